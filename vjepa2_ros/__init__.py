"""vjepa2_ros: V-JEPA 2-AC world-model planning for Franka arms on ROS 2.

Pure core (model, planning, robot, sim, data, train) importable without rclpy;
`vjepa2_ros.nodes` is the thin ROS shell.
"""

__version__ = "0.1.0"
