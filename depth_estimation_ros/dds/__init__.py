"""DDS-native ROS 2 wire layer: ROS 2 message types, QoS profiles and a small node runtime.

Built on cyclonedds-python (the DDS that ROS 2 ships as rmw_cyclonedds_cpp). A process using
it is a ROS 2 peer: topics ``rt/<name>``, types ``<pkg>::msg::dds_::<Name>_``, plain CDR.

    from depth_estimation_ros.dds import messages as m
    from depth_estimation_ros.dds.qos import QosProfile, SENSOR_DATA
    from depth_estimation_ros.dds.runtime import DdsNode
"""
