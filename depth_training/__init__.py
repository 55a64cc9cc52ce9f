"""depth_training: NYUv2 staged training and evaluation for depth_estimation_ros.

Commands: ``python -m depth_training.train`` (the training loop) and
``python -m depth_training.evaluate``; ``make_nyu_like`` and ``make_rgbd_bag`` write test data.
Data sources, splits, augmentation and the torch Dataset live in :mod:`depth_training.datasets`;
the training loop's parts in ``recipe``, ``optim``, ``init_weights``, ``run_state``,
``run_log``, ``validation``, ``distributed``, ``precision`` and ``errors``; evaluation's in
``evaluation`` and ``report`` (see docs/architecture.md).
"""
