"""The ROS-free library: network, checkpoints, estimator, camera geometry, image encodings,
point clouds, stand-in sensors, colouring, PLY and atomic files.

May import numpy, torch, OpenCV, matplotlib and the standard library; never rclpy,
cyclonedds, a ROS message package, or a sibling subpackage (``node``, ``ros``, ``dds``, ``sim``)
(``test/test_layout.py`` imports it with those made unimportable).
"""
