"""Public ROS interface names (DESIGN.md; the README's table). One place, used by every node."""

CAMERA_IMAGE = "/camera/image_raw"
CAMERA_INFO = "/camera/camera_info"
LATENT = "/vjepa2/latent"
GOAL_IMAGE = "/vjepa2/goal/image"  # active sub-goal image (transient-local), from goal_server
GOAL_ADD = "/vjepa2/goal/add"  # images appended as sub-goals (RViz, rqt, scripts)
GOAL_LATENT = "/vjepa2/goal/latent"
GOAL_INDEX = "/vjepa2/goal/index"  # std_msgs/Int32, -1 = none active / all done
GOAL_DONE = "/vjepa2/goal/done"  # std_msgs/Bool, true once every sub-goal was handled
GOAL_CAPTURE = "/vjepa2/goal/capture"
GOAL_NEXT = "/vjepa2/goal/next"
GOAL_PREVIOUS = "/vjepa2/goal/previous"
GOAL_CLEAR = "/vjepa2/goal/clear"
ACTION = "/vjepa2/action"
PLANNER_ENABLE = "/vjepa2/planner/enable"
PLANNER_DIAGNOSTICS = "/vjepa2/planner/diagnostics"
EE_STATE = "/franka/ee_state"
EE_POSE = "/franka/ee_pose"
JOINT_STATES = "/joint_states"
FRANKA_STOP = "/franka/stop"
FRANKA_RECOVER = "/franka/recover"
FRANKA_HOME = "/franka/home"
DIAGNOSTICS = "/diagnostics"
SIM_GROUND_TRUTH = "/sim/ground_truth"
SIM_GOAL_TRUTH = "/sim/goal_truth"
SIM_RESET = "/sim/reset"
SIM_RENDER_GOAL = "/sim/render_goal"  # named vector -> a rendered goal image on GOAL_ADD
SIM_CAMERA_ENABLE = "/sim/camera_enable"  # std_srvs/SetBool: pause/resume the sim camera

PLANNER_STATUS_NAME = "vjepa2/planner"
