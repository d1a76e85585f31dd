"""The `main()` of every node: init, build with its config file's values, spin, shut down cleanly.

Values from config/<file> are the node's defaults, so `ros2 run vjepa2_ros <node>` behaves like
the launch file and `make demo`; `--ros-args -p name:=value` or a launch file still override them.
"""

from __future__ import annotations

from vjepa2_ros.nodes.params import node_parameters


def spin_node(node_class, config_file: str, node_name: str, args=None, num_threads: int = 4):
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

    rclpy.init(args=args)
    node = None
    executor = MultiThreadedExecutor(num_threads=num_threads)
    try:
        node = node_class(parameter_overrides=node_parameters(config_file, node_name))
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
