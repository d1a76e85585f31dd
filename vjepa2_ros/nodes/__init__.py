"""The thin ROS shell: one small rclpy Node per module, parameters <-> typed config, msgs <-> arrays."""
