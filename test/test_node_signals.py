"""A node stops cleanly however many Ctrl-Cs it gets.

In a terminal, Ctrl-C sends SIGINT to every process of the launch, and ros2 launch then sends its
own SIGINT to each node it sees still running. A node that is tearing down (a model process:
torch unloads slowly) must finish its teardown and exit 0, not die of the second signal.
"""

import signal
import time

import pytest
from conftest import RosHarness

from vjepa2_ros.graph import NODES
from vjepa2_ros.shell.runner import NodeProcess

pytestmark = [pytest.mark.ros]


def test_repeated_sigint_during_teardown_still_exits_0():
    spec = next(n for n in NODES if n.name == "camera_encoder")
    node = NodeProcess(spec, {})
    try:
        RosHarness.wait_for(lambda: any("discovery:" in line for line in node.lines), 120, "up")
        node.proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 5.0
        while node.proc.poll() is None and time.monotonic() < deadline:
            node.proc.send_signal(signal.SIGINT)  # launch's own SIGINT, and more
            time.sleep(0.01)
        status = node.proc.wait(30)
    finally:
        if node.proc.poll() is None:
            node.proc.kill()
    assert status == 0, "".join(node.lines[-20:])
    assert not any("Traceback" in line for line in node.lines), "".join(node.lines[-20:])
