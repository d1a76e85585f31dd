"""The end-effector pose and state convention, in one place for the model, planner, robot and sim.

State [x y z roll pitch yaw gripper]: base frame (interfaces.BASE_FRAME), metres, extrinsic xyz
Euler angles (scipy "xyz"), gripper closedness in [0, 1]. An action [dx dy dz droll dpitch dyaw
dgripper] adds its translation in the base frame and rotates by R_delta on the left
(R_next = R_delta @ R_now); the gripper closedness is clipped to [0, 1] (VJEPA2_AC.md).

Two faces of this one definition: `pose.tensors` (torch, batched, the planner's hot path) and
`pose.arrays` (numpy/scipy, the robot's safety filter, the sim and the ROS conversions, no torch).
test_pose.py checks that they agree.
"""

# |cos(pitch)| below this counts as gimbal lock (pitch = +-90 deg) in both faces: the yaw is then
# 0 and the whole remaining rotation is in the roll, as scipy chooses at the lock.
GIMBAL_EPS = 1e-6
