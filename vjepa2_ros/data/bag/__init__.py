"""rosbag2 (MCAP) bags without ROS, robust to a recorder that dies mid-run.

format.py: files on disk, typestore, BagError · writer.py: BagWriter · reader.py: read_bag, the
one reader · recovery.py: cut bags read and repaired · __main__.py: `python -m ... repair`.
"""

from vjepa2_ros.data.bag.format import BagError, bag_files, is_bag, typestore
from vjepa2_ros.data.bag.reader import Bag, find_bags, read_bag
from vjepa2_ros.data.bag.recovery import repair_bag
from vjepa2_ros.data.bag.writer import BagWriter, latched_qos

__all__ = [
    "Bag",
    "BagError",
    "BagWriter",
    "bag_files",
    "find_bags",
    "is_bag",
    "latched_qos",
    "read_bag",
    "repair_bag",
    "typestore",
]
