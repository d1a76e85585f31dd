"""QoS profiles shared by the nodes."""

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

# Latched: the newest message (active goal, its latent, the sub-goal index) reaches late joiners.
LATCHED = QoSProfile(
    depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE
)

# Latched history: every message of a short record (sub-goal outcomes, goal truths) reaches
# late joiners, not only the newest.
LATCHED_HISTORY = QoSProfile(
    depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE
)
