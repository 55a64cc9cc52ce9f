"""depth_training: NYUv2 staged training and evaluation for depth_estimation_ros.

Modules: ``data`` (NYUv2 / synthetic sources, splits, dataset), ``augment``, ``losses``,
``metrics``, ``train``, ``evaluate``, ``figures``, ``make_nyu_like``. Run
``python -m depth_training.train`` and ``python -m depth_training.evaluate``.
"""
