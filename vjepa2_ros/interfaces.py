"""Public ROS interface names (DESIGN.md; the README's table). One place, used by every node.

Topics, services, frame names, diagnostic status names and keys, and the field names of the
named vectors (sensor_msgs/JointState used as stamped named vectors) all live here: the writer
and every reader of an interface import the same constant. Pure strings: importable without ROS.
"""

CAMERA_IMAGE = "/camera/image_raw"
CAMERA_INFO = "/camera/camera_info"
LATENT = "/vjepa2/latent"
GOAL_IMAGE = "/vjepa2/goal/image"  # active sub-goal image (transient-local), from goal_server
GOAL_ADD = "/vjepa2/goal/add"  # images appended as sub-goals (RViz, rqt, scripts)
GOAL_LATENT = "/vjepa2/goal/latent"
# sensor_msgs/TimeReference (transient-local), from goal_server: what the active sub-goal's plans
# may do with the gripper. header.stamp = the active goal's stamp (that of GOAL_IMAGE and so of
# GOAL_LATENT), source = a gripper schedule ("free", "hold", "close", "open", "close@1";
# vjepa2_ros/planning/gripper_schedule.py).
GOAL_GRIPPER = "/vjepa2/goal/gripper"
GOAL_INDEX = "/vjepa2/goal/index"  # std_msgs/Int32, -1 = none active / all done
GOAL_DONE = "/vjepa2/goal/done"  # std_msgs/Bool, true once every sub-goal was handled
GOAL_PROGRESS = "/vjepa2/goal/progress"  # JointState named vector, one per sub-goal outcome
GOAL_CAPTURE = "/vjepa2/goal/capture"
GOAL_NEXT = "/vjepa2/goal/next"
GOAL_PREVIOUS = "/vjepa2/goal/previous"
GOAL_CLEAR = "/vjepa2/goal/clear"
ACTION = "/vjepa2/action"
PLANNER_ENABLE = "/vjepa2/planner/enable"
PLANNER_DIAGNOSTICS = "/vjepa2/planner/diagnostics"
PLANNER_CYCLE = "/vjepa2/planner/cycle"  # JointState named vector per planned cycle
PLANNER_MARKERS = "/vjepa2/planner/markers"  # visualization_msgs/MarkerArray: plan for RViz
EE_STATE = "/franka/ee_state"
EE_POSE = "/franka/ee_pose"
JOINT_STATES = "/joint_states"
ARM_STATE = "/franka/arm_state"  # std_msgs/String (transient-local): an ArmState value
MOTION = "/franka/motion"  # sensor_msgs/TimeReference (transient-local), see below
FRANKA_STOP = "/franka/stop"
FRANKA_RECOVER = "/franka/recover"
FRANKA_HOME = "/franka/home"
FRANKA_ARM = "/franka/arm"  # std_srvs/SetBool: true arms (accept actions), false disarms
DIAGNOSTICS = "/diagnostics"
SIM_GROUND_TRUTH = "/sim/ground_truth"
SIM_GOAL_TRUTH = "/sim/goal_truth"
SIM_RESET = "/sim/reset"
SIM_RENDER_GOAL = "/sim/render_goal"  # named vector -> a rendered goal image on GOAL_ADD
SIM_CAMERA_ENABLE = "/sim/camera_enable"  # std_srvs/SetBool: pause/resume the sim camera

# Frames. The robot base is franka_description's root link, so the robot model, the bridge's
# poses, the sim's ground truth and the RViz markers share one fixed frame.
BASE_FRAME = "fr3_link0"
EE_FRAME = "fr3_hand_tcp"

# Named vectors (JointState: names in `name`, values in `position`).
ACTION_NAMES = ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper")
STATE_NAMES = ("x", "y", "z", "roll", "pitch", "yaw", "gripper")

# /franka/motion (sensor_msgs/TimeReference): header.stamp = when the arm last settled (for
# "moving": the previous settle), time_ref = stamp of the newest action the bridge handled,
# source = one of MOTION_OUTCOMES. A frame captured after header.stamp shows the arm at rest
# after that action.
MOTION_OUTCOMES = ("moving", "settled", "rejected")

# /vjepa2/planner/cycle: header.stamp = stamp of the goal latent planned against (identifies
# the sub-goal), header.frame_id = budget name, values in this order.
CYCLE_NAMES = (
    "cycle",  # planning cycle number (counts planned cycles only, 1, 2, ...)
    "energy",  # energy of the returned plan
    "best_energy",  # lowest energy seen during CEM
    "step_m",  # norm of the planned xyz move
    "arrived",  # 1.0 when the model's calibrated arrival rule says "at the goal", else 0.0
    "latency_s",  # planning time
    "observation_stamp",  # source frame stamp (s) the cycle planned on
    "action_stamp",  # stamp (s) of the action published for this cycle
    "settle_to_observation_s",  # how long after the last settle that frame was captured
)

# /vjepa2/goal/progress: header.stamp = when the sub-goal ended, values in this order.
PROGRESS_NAMES = (
    "index",  # sub-goal index
    "reached",  # 1.0 reached (arrival rule), 0.0 given up (cycle budget) or skipped
    "cycles",  # planning cycles spent on it
    "energy",  # last energy (nan when none)
    "truth_error_m",  # sim only: end effector to the sub-goal's target (nan when unknown)
)

PLANNER_STATUS_NAME = "vjepa2/planner"
BRIDGE_STATUS_NAME = "franka_bridge"
# franka_bridge's /diagnostics keys (written by the bridge, read by evaluation and tests).
BRIDGE_KEYS = (
    "state",
    "connected",
    "safety_event",
    "actions_executed",
    "actions_rejected",
    "state_read_failures",
    "state_age_ms",
    "peak_speed_m_s",
)
# ... followed by one `events/<kind>` key per safety event kind seen so far, value = count
# ("events/clipped: workspace", "events/runaway", "events/stop", ...).
BRIDGE_EVENT_PREFIX = "events/"
# The planner's diagnostics keys.
PLANNER_KEYS = (
    "cycle",
    "subgoal",
    "budget",
    "skipped",
    "goal_stamp_ns",
    "energy",
    "best_energy",
    "latency_ms",
    "iterations",
    "predictor_forwards",
    "latent_age_ms",
    "settle_to_observation_ms",
    "action",
)
