"""depth_training: NYUv2 staged training and evaluation for depth_estimation_ros.

Commands: ``python -m depth_training.train`` (the training loop) and
``python -m depth_training.evaluate``; ``make_nyu_like`` and ``make_rgbd_bag`` write test data.
Data sources, splits, augmentation and the torch Dataset live in :mod:`depth_training.datasets`;
the training loop's parts in ``recipe``, ``optim``, ``init_weights``, ``run_state``,
``run_log``, ``validation``, ``distributed``, ``precision`` and ``errors``; evaluation's in
``evaluation`` and ``report`` (see docs/architecture.md).
"""

import os as _os

# OpenMP threads that finish a parallel region spin for a while before they sleep (libgomp's
# default); on a shared CPU the spinning steals the cores the other threads and processes
# need. Measured on the 2-core development VM under load: a compact fine-tune step 3.9 s →
# 1.7 s and an augmented item 38 → 6 ms with PASSIVE (docs/own_camera.md). Read when the
# OpenMP runtime loads, i.e. before torch is first imported; a value already set is kept.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
