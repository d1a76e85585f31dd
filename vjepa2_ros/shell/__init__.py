"""The ROS shell beyond single nodes: running the node graph without `ros2 launch` (the graph
runner), driving seeded episodes through it (make demo, the graph-mode sim evaluation)."""
