"""Seeded sim episodes through the running node graph, driven as a user's script would.

`GraphEpisodeDriver` talks to the graph only over ROS: it jogs the arm with ordinary actions on
/vjepa2/action (through franka_bridge's safety filter), places the objects by setting the
sim's `seed` parameter, asks the sim to render goal images (/sim/render_goal -> the goal
server), publishes the targets for ground-truth scoring (/sim/goal_truth), switches the planner
on and off, and scores every cycle on the sim's ground truth (/sim/ground_truth) once the arm
settled (/franka/motion). `make demo` and `vjepa2-sim-eval --graph` use it, so a sim score
measures what users run: DDS, the camera node, the encoder, the planner, the goal server and
the bridge.

Between evaluation episodes the driver acts as the operator: a latched stop or error is
recovered and the arm re-armed, each time printed and counted (`recoveries`). The demo never
does that: it reports the latch and fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vjepa2_ros import interfaces as names
from vjepa2_ros.planning.input_gate import STAMP_EPS_S
from vjepa2_ros.sim.rig import JOG_MAX_STEPS, SAFE_HEIGHT_M, jog_action

SERVICE_TIMEOUT_S = 30.0
RESEND_S = 5.0  # a request safe to repeat is sent again after this long unanswered
MOTION_TIMEOUT_S = 30.0  # one jog step from publish to settle, on a loaded machine


class EpisodeError(RuntimeError):
    """The graph did not do what the episode needed (named in the message)."""


@dataclass
class GraphCycle:
    """One planned cycle as the graph reports it, with its ground-truth score."""

    cycle: int
    energy: float
    step_m: float
    arrived: bool
    latency_ms: float
    distance_before_m: float  # end effector to the target at the observation planned on
    distance_m: float  # ... after the action settled
    event: str = ""  # the bridge's newest safety event after the action
    action: list[float] = field(default_factory=list)  # the planner's action of this cycle
    subgoal: int = 0  # pick-place: the sub-goal it planned for


@dataclass
class Progress:
    """One sub-goal's end as the goal server reported it (/vjepa2/goal/progress)."""

    index: int
    reached: bool  # by the arrival rule
    cycles: int
    energy: float
    truth_error_m: float


@dataclass
class DriverState:
    """Newest values of everything the driver listens to (written by callbacks)."""

    arm_state: str = ""
    motion: object = None  # MotionStatus
    ee_state: np.ndarray | None = None
    ee_truth: np.ndarray | None = None
    ee_truth_stamp: float = 0.0
    cup_truth: np.ndarray | None = None
    box_truth: np.ndarray | None = None
    finger_width_truth: float = float("nan")
    latents: int = 0
    goal_adds: int = 0
    goal_index: int | None = None
    goal_stamp: float | None = None  # stamp (s) of the active goal (its gripper schedule's)
    goal_done: bool = False
    progress: list[Progress] = field(default_factory=list)
    cycles: list[dict[str, float]] = field(default_factory=list)
    actions: list[tuple[float, list[float]]] = field(default_factory=list)  # (stamp s, action)
    planner_skip: str = ""
    bridge: dict[str, str] = field(default_factory=dict)


class GraphEpisodeDriver:
    """A node in the runner's context that drives episodes through the graph."""

    def __init__(self, runner, log: Callable[[str], None] = print) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.node import Node
        from sensor_msgs.msg import Image, JointState, TimeReference
        from std_msgs.msg import Bool, Int32, String

        from vjepa2_ros.nodes.qos import LATCHED, LATCHED_HISTORY

        self.log = log
        self.s = DriverState()
        self.recoveries: list[str] = []
        self._clients: dict = {}  # service name -> client, kept (see _call)
        self._cond = threading.Condition()
        self.node = node = runner.add(
            "episode_driver", Node("episode_driver", context=runner.context)
        )
        sub = node.create_subscription
        sub(String, names.ARM_STATE, self._set("arm_state", lambda m: m.data), LATCHED)
        sub(TimeReference, names.MOTION, self._on_motion, LATCHED)
        sub(JointState, names.EE_STATE, self._on_state, 10)
        sub(JointState, names.SIM_GROUND_TRUTH, self._on_truth, 10)
        sub(Image, names.LATENT, self._count("latents"), 1)
        sub(Image, names.GOAL_ADD, self._count("goal_adds"), 10)
        sub(Int32, names.GOAL_INDEX, self._set("goal_index", lambda m: m.data), LATCHED)
        sub(TimeReference, names.GOAL_GRIPPER, self._on_goal_gripper, LATCHED)
        sub(Bool, names.GOAL_DONE, self._set("goal_done", lambda m: m.data), LATCHED)
        sub(JointState, names.GOAL_PROGRESS, self._on_progress, LATCHED_HISTORY)
        sub(JointState, names.PLANNER_CYCLE, self._on_cycle, 10)
        sub(JointState, names.ACTION, self._on_action, 50)
        sub(DiagnosticArray, names.PLANNER_DIAGNOSTICS, self._on_planner_diag, 10)
        sub(DiagnosticArray, names.DIAGNOSTICS, self._on_bridge_diag, 10)
        self.action_pub = node.create_publisher(JointState, names.ACTION, 10)
        self.render_pub = node.create_publisher(JointState, names.SIM_RENDER_GOAL, 10)
        self.truth_pub = node.create_publisher(JointState, names.SIM_GOAL_TRUTH, LATCHED_HISTORY)

    # ------------------------------------------------------------------ listening
    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _set(self, attr: str, convert):
        def callback(msg) -> None:
            setattr(self.s, attr, convert(msg))
            self._notify()

        return callback

    def _count(self, attr: str):
        def callback(_msg) -> None:
            setattr(self.s, attr, getattr(self.s, attr) + 1)
            self._notify()

        return callback

    def _on_motion(self, msg) -> None:
        from vjepa2_ros.nodes.conversions import msg_to_motion

        self.s.motion = msg_to_motion(msg)
        self._notify()

    def _on_state(self, msg) -> None:
        self.s.ee_state = np.asarray(msg.position, dtype=np.float64)
        self._notify()

    def _on_truth(self, msg) -> None:
        from vjepa2_ros.nodes.conversions import stamp_to_sec

        named = dict(zip(msg.name, msg.position))
        self.s.ee_truth = np.array([named["ee.x"], named["ee.y"], named["ee.z"]])
        self.s.cup_truth = np.array([named["cup.x"], named["cup.y"], named["cup.z"]])
        self.s.box_truth = np.array([named["box.x"], named["box.y"], named["box.z"]])
        self.s.finger_width_truth = float(named["ee.gripper"])
        self.s.ee_truth_stamp = stamp_to_sec(msg.header.stamp)
        self._notify()

    def _on_progress(self, msg) -> None:
        from vjepa2_ros.nodes.conversions import named_values

        v = named_values(msg, names.PROGRESS_NAMES)
        self.s.progress.append(
            Progress(
                int(v["index"]),
                v["reached"] > 0.5,
                int(v["cycles"]),
                v["energy"],
                v["truth_error_m"],
            )
        )
        self._notify()

    def _on_goal_gripper(self, msg) -> None:
        from vjepa2_ros.nodes.conversions import stamp_to_sec

        self.s.goal_stamp = stamp_to_sec(msg.header.stamp)  # sent with every goal activated
        self._notify()

    def _on_cycle(self, msg) -> None:
        from vjepa2_ros.nodes.conversions import named_values, stamp_to_sec

        cycle = named_values(msg, names.CYCLE_NAMES)
        cycle["goal_stamp"] = stamp_to_sec(msg.header.stamp)  # the goal it planned against
        self.s.cycles.append(cycle)
        self._notify()

    def _on_action(self, msg) -> None:
        from vjepa2_ros.nodes.conversions import msg_to_vector, stamp_to_sec

        try:
            action = [float(v) for v in msg_to_vector(msg, names.ACTION_NAMES)]
        except ValueError:
            return  # a malformed action: the bridge rejects and reports it
        self.s.actions.append((stamp_to_sec(msg.header.stamp), action))

    def _action_at(self, stamp: float) -> list[float]:
        """The action published with `stamp` (a cycle report's action_stamp), [] if unseen."""
        for seen, action in reversed(self.s.actions):
            if abs(seen - stamp) < STAMP_EPS_S:
                return action
        return []

    def _on_planner_diag(self, msg) -> None:
        from vjepa2_ros.nodes.conversions import diagnostic_values

        values = diagnostic_values(msg, names.PLANNER_STATUS_NAME)
        if values is not None:
            self.s.planner_skip = values.get("skipped", "")
            self._notify()

    def _on_bridge_diag(self, msg) -> None:
        from vjepa2_ros.nodes.conversions import diagnostic_values

        values = diagnostic_values(msg, names.BRIDGE_STATUS_NAME)
        if values is not None:
            self.s.bridge = values
            self._notify()

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise EpisodeError(f"no {what} within {timeout:.0f} s")
                self._cond.wait(min(left, 0.1))

    def safety_events(self) -> dict[str, int]:
        """The bridge's safety event counts by kind (from its diagnostics)."""
        prefix = names.BRIDGE_EVENT_PREFIX
        return {k[len(prefix) :]: int(v) for k, v in self.s.bridge.items() if k.startswith(prefix)}

    # ------------------------------------------------------------------ commands
    def now(self):
        return self.node.get_clock().now()

    def _call(self, srv_type, service: str, request, resend: bool = False, effect=None):
        """Call `service` and return its answer (None when `effect()` showed it took effect).

        Clients are kept for the driver's lifetime: a fresh client's first answer can be lost
        (Fast DDS drops a response when the server has not yet matched the client's response
        reader within 100 ms, ros2/ros2#1253; seen here on the loaded 2-core box). So a request
        that is safe to repeat (`resend`: setting a value) is sent again every RESEND_S until
        answered; one that is not (a trigger) is sent once, and `effect`, when given, tells that
        it was carried out although the answer was lost.
        """
        client = self._clients.get(service)
        if client is None:
            client = self._clients[service] = self.node.create_client(srv_type, service)
        if not client.wait_for_service(timeout_sec=SERVICE_TIMEOUT_S):
            raise EpisodeError(f"service {service} not available")
        deadline = time.monotonic() + SERVICE_TIMEOUT_S
        while True:
            future = client.call_async(request)
            left = deadline - time.monotonic()
            try:
                self.wait(
                    lambda f=future: f.done() or (effect is not None and effect()),
                    min(RESEND_S, left) if resend else left,
                    f"answer from {service}",
                )
            except EpisodeError:
                client.remove_pending_request(future)
                if not resend or time.monotonic() >= deadline:
                    raise EpisodeError(
                        f"no answer from {service} within {SERVICE_TIMEOUT_S:.0f} s"
                    ) from None
                continue
            if future.done():
                return future.result()
            client.remove_pending_request(future)
            return None

    def trigger(self, service: str, effect=None):
        from std_srvs.srv import Trigger

        return self._call(Trigger, service, Trigger.Request(), effect=effect)

    def set_bool(self, service: str, value: bool):
        from std_srvs.srv import SetBool

        return self._call(SetBool, service, SetBool.Request(data=value), resend=True)

    def set_parameter(self, node_name: str, name: str, value) -> None:
        from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
        from rcl_interfaces.srv import SetParameters

        kind = (
            ParameterType.PARAMETER_INTEGER
            if isinstance(value, int)
            else ParameterType.PARAMETER_STRING
        )
        pv = ParameterValue(type=kind)
        if isinstance(value, int):
            pv.integer_value = value
        else:
            pv.string_value = str(value)
        request = SetParameters.Request(parameters=[Parameter(name=name, value=pv)])
        result = self._call(
            SetParameters, f"/{node_name}/set_parameters", request, resend=True
        ).results[0]
        if not result.successful:
            raise EpisodeError(f"setting {node_name} {name} = {value} refused: {result.reason}")

    def wait_ready(self, timeout: float) -> None:
        """Robot state, arm state and camera latents flowing."""
        self.wait(
            lambda: self.s.ee_state is not None and self.s.latents > 0 and self.s.arm_state,
            timeout,
            "robot state, arm state and camera latents",
        )
        self.wait(lambda: self.render_pub.get_subscription_count() > 0, 30.0, "sim goal renderer")

    def planner(self, enabled: bool) -> None:
        """Switch the planner; switching off waits until no cycle is in flight."""
        self.set_bool(names.PLANNER_ENABLE, enabled)
        if not enabled:
            self.wait(lambda: self.s.planner_skip == "disabled", 120.0, "planner to pause")
            self.wait(self._settled, MOTION_TIMEOUT_S, "arm to settle")

    def _settled(self) -> bool:
        m = self.s.motion
        return m is None or m.outcome != "moving"

    def ensure_armed(self, operator: bool) -> None:
        """Arm a disarmed arm; with `operator`, also recover a latch (printed, counted)."""
        self.wait(lambda: self.s.arm_state not in ("", "disconnected"), 60.0, "robot connection")
        self.wait(self._settled, MOTION_TIMEOUT_S, "arm to settle")
        state = self.s.arm_state
        if state in ("stopped", "error"):
            reason = self.s.bridge.get("safety_event", "")
            if not operator:
                raise EpisodeError(f"the arm is {state} ({reason}); a person must check it")
            self.recoveries.append(f"{state}: {reason}")
            self.log(f"operator: the arm is {state} ({reason}): /franka/recover, /franka/arm")
            answer = self.trigger(names.FRANKA_RECOVER)
            if not answer.success:
                raise EpisodeError(f"recover failed: {answer.message}")
            self.wait(lambda: self.s.arm_state == "disarmed", 10.0, "disarmed after recover")
            state = "disarmed"
        if state == "disarmed":
            answer = self.set_bool(names.FRANKA_ARM, True)
            if not answer.success:
                raise EpisodeError(f"arming failed: {answer.message}")
            self.wait(lambda: self.s.arm_state in ("armed", "moving"), 10.0, "armed arm")

    def execute(self, action) -> str:
        """Publish one action and wait until the bridge reports it settled or rejected."""
        from vjepa2_ros.nodes.conversions import vector_to_msg

        stamp = self.now()
        self.action_pub.publish(vector_to_msg(action, names.ACTION_NAMES, stamp))
        self.wait_handled(stamp.nanoseconds * 1e-9, "settle report for a jog action")
        return (
            ""
            if self.s.motion.outcome == "settled"
            else self.s.bridge.get("safety_event", "rejected")
        )

    def wait_handled(self, action_stamp: float, what: str) -> None:
        """Until the bridge reports the action stamped `action_stamp` settled or rejected."""

        def handled() -> bool:
            m = self.s.motion
            return (
                m is not None
                and m.outcome != "moving"
                and m.action_stamp is not None
                and m.action_stamp >= action_stamp - STAMP_EPS_S
            )

        self.wait(handled, MOTION_TIMEOUT_S, what)

    def jog_to(self, xyz, open_gripper: bool = False) -> None:
        target = np.asarray(xyz, dtype=np.float64)
        for _ in range(JOG_MAX_STEPS):
            self.wait(lambda: self.s.ee_state is not None, 5.0, "robot state")
            action = jog_action(self.s.ee_state, target, open_gripper)
            if action is None:
                return
            event = self.execute(action)
            if event.startswith(("rejected", "refused")):
                raise EpisodeError(f"jog to {target.round(3).tolist()} refused: {event}")
            time.sleep(0.05)  # the state stream catches up with the settled arm

    def reset(self, seed: int, start_xyz, operator: bool = True) -> None:
        """Planner off, goals cleared, arm up, objects from `seed`, arm to the start pose."""
        self.planner(False)
        self.trigger(names.GOAL_CLEAR)
        self.ensure_armed(operator)
        up = self.s.ee_state[:3].copy()
        up[2] = max(up[2], SAFE_HEIGHT_M)
        self.jog_to(up, open_gripper=True)
        self.set_parameter("sim_camera", "seed", int(seed))
        time.sleep(0.5)  # the objects settle on the table
        self.jog_to(start_xyz, open_gripper=True)

    def add_goal(self, index: int, arm_pose, gripper=None, objects=None, truth=None) -> None:
        """Render a goal image in the sim (it goes to the goal server) and publish its truth."""
        from vjepa2_ros.nodes.conversions import vector_to_msg
        from vjepa2_ros.nodes.sim_camera import ARM_POSE_NAMES

        keys, values = ["index"], [float(index)]
        for body, pos in (truth or {}).items():
            keys += [f"{body}.{axis}" for axis in "xyz"]
            values += [float(v) for v in pos]
        self.truth_pub.publish(vector_to_msg(values, keys, self.now(), names.BASE_FRAME))
        keys, values = list(ARM_POSE_NAMES), [float(v) for v in arm_pose]
        if gripper is not None:
            keys.append("gripper")
            values.append(float(gripper))
        for body, pos in (objects or {}).items():
            keys += [f"{body}.{axis}" for axis in "xyz"]
            values += [float(v) for v in pos]
        before = self.s.goal_adds
        self.render_pub.publish(vector_to_msg(values, keys, self.now()))
        self.wait(lambda: self.s.goal_adds > before, 60.0, f"goal image {index} from the sim")

    # ------------------------------------------------------------------ scoring
    def truth_after(self, settled_at: float) -> np.ndarray:
        """The ground-truth end effector in a sim frame captured after `settled_at`."""
        self.wait(lambda: self.s.ee_truth_stamp > settled_at, 10.0, "ground truth after the settle")
        return self.s.ee_truth.copy()

    def follow_cycles(
        self,
        target: np.ndarray,
        max_cycles: int,
        stop: Callable[[GraphCycle], bool],
        timeout_s: float,
        goal_stamp: float | None = None,
    ) -> list[GraphCycle]:
        """Score the planner's cycles until `stop(cycle)` or `max_cycles` (planner must be on).

        Each cycle is scored once its action settled: the end effector's ground-truth distance
        to `target` in a sim frame captured after the settle. With `goal_stamp`, a cycle planned
        against another goal (the previous sub-goal's, in flight when it was moved on) is let
        settle but not counted.
        """
        history: list[GraphCycle] = []
        seen = len(self.s.cycles)
        deadline = time.monotonic() + timeout_s
        before = float(np.linalg.norm(self.s.ee_truth - target))
        while len(history) < max_cycles:
            self.wait(
                lambda n=seen: len(self.s.cycles) > n,
                deadline - time.monotonic(),
                "planned cycle",
            )
            cycle = self.s.cycles[seen]
            seen += 1
            self.wait_handled(cycle["action_stamp"], "the planned action to settle")
            settled_at = self.s.motion.settled_at or 0.0
            distance = float(np.linalg.norm(self.truth_after(settled_at) - target))
            if goal_stamp is not None and abs(cycle["goal_stamp"] - goal_stamp) >= STAMP_EPS_S:
                before = distance
                continue
            record = GraphCycle(
                cycle=int(cycle["cycle"]),
                energy=cycle["energy"],
                step_m=cycle["step_m"],
                arrived=cycle["arrived"] > 0.5,
                latency_ms=cycle["latency_s"] * 1e3,
                distance_before_m=before,
                distance_m=distance,
                event=self.s.bridge.get("safety_event", ""),
                action=self._action_at(cycle["action_stamp"]),
            )
            history.append(record)
            before = distance
            if stop(record):
                break
        return history
