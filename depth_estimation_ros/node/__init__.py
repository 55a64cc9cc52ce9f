"""The node's behaviour without a transport: the frame pipeline, its parameters, its
diagnostics and the conversion between messages and numpy.

May import ``core``; never rclpy, cyclonedds or a ROS message package. The shells in ``ros``
and ``dds`` hand it their message classes (``msgconv.MessageTypes``) and publishers.
"""
