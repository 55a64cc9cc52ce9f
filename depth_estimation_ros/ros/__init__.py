"""The rclpy shells: ``node`` (``depth_estimation_node``), ``lifecycle_node``
(``depth_estimation_lifecycle_node``) and ``shell``, the wiring they share.

The only place in the package that imports rclpy and the ROS message packages; wiring only,
over ``node`` and ``core``. Importing this package itself needs no ROS.
"""
