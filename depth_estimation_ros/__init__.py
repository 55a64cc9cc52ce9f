"""depth_estimation_ros: monocular metric depth for ROS 2 (Eigen & Fergus 2015 multi-scale CNN).

The core (model, checkpoint, estimator, camera, encodings, point clouds, renderer) imports no
ROS package; the rclpy node and the DDS-native runtime are thin shells over it.
"""

__version__ = "0.1.0"
