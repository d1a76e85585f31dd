"""planner: the receding-horizon loop: observe, plan, act, settle, observe.

Each cycle plans on one observation: a camera latent whose source frame was captured after the
arm settled from the previous action (franka_bridge's /franka/motion), paired with the
end-effector state at that frame's stamp, never the same frame twice (vjepa2_ros/planning/
input_gate.py). Planning runs in its own thread, woken by new inputs and at most at `rate_hz`,
never in the executor's callback threads, so subscriptions and services stay responsive during a
multi-second plan. Every cycle reports on diagnostics: its energy and latency, or why it was
skipped; a planned cycle also goes out as a typed named vector on /vjepa2/planner/cycle (energy,
step, whether the model's calibrated arrival rule says "at the goal"), which the goal server
uses. Each plan follows the active sub-goal's gripper schedule (/vjepa2/goal/gripper, from the
goal server; planning/gripper_schedule.py). A non-finite plan is never published.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState, TimeReference
from std_msgs.msg import Int32
from std_srvs.srv import SetBool
from visualization_msgs.msg import MarkerArray

from vjepa2_ros import interfaces as names
from vjepa2_ros.compute import lower_priority, set_torch_threads
from vjepa2_ros.graph import node_spec
from vjepa2_ros.model.checkpoint import world_model_from_config
from vjepa2_ros.nodes.conversions import (
    diagnostics_msg,
    msg_to_latent,
    msg_to_motion,
    msg_to_vector,
    plan_markers,
    stamp_to_sec,
    vector_to_msg,
)
from vjepa2_ros.nodes.entrypoint import spin_node
from vjepa2_ros.nodes.params import declare_config
from vjepa2_ros.nodes.qos import LATCHED
from vjepa2_ros.planning.arrival import load_rule
from vjepa2_ros.planning.cem import CEMPlanner
from vjepa2_ros.planning.config import PlannerConfig
from vjepa2_ros.planning.gripper_schedule import GripperSchedule
from vjepa2_ros.planning.input_gate import WAIT_GRIPPER, CycleGate, StateHistory, routine

# Parameters `ros2 param set` may change while the node runs (validated; others are read-only).
LIVE_PARAMETERS = ("budget", "seed", "rate_hz", "warm_start", "warm_start_fill", "early_stop")


def _ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


class PlannerNode(Node):
    config_class = PlannerConfig  # its parameters (entrypoint checks parameter files)

    def __init__(self, *, parameter_overrides: dict | None = None, world_model=None, **kwargs):
        super().__init__("planner", **kwargs)
        live = {name: self._reconfigure for name in LIVE_PARAMETERS}
        self.config = declare_config(self, PlannerConfig, parameter_overrides, live=live)
        c = self.config
        lower_priority(c.nice)
        set_torch_threads(c.torch_threads)
        model_config = c.model
        self.model = (
            world_model
            if world_model is not None
            else world_model_from_config(model_config, parts=("predictor",))
        )
        self.model.eval()
        self._device = model_config.device
        self.planner = CEMPlanner(self.model, c.cem_config(self.model.spec), device=self._device)
        self.arrival = load_rule(model_config.checkpoint_path())
        self.limits = c.input_limits()
        self.gate = CycleGate(self.limits)
        self.enabled = c.start_enabled
        self.cycles = 0  # planned cycles (a skip holds back cycle `cycles + 1`)
        self.checks = 0  # passes of the loop: a skip re-checks at every new input
        self.actions_published = 0
        self._warned = ""  # the kind of fault last logged; "" once a cycle plans again
        self._cycle_start = self.get_clock().now()

        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._latent: Image | None = None
        self._states = StateHistory()
        self._goal: Image | None = None
        self._gripper: TimeReference | None = None  # the active sub-goal's gripper schedule
        self._motion = None  # newest /franka/motion report
        self._subgoal: int | None = None  # None until a goal server publishes an index
        self._planned_goal_ns: int | None = None

        self._action_pub = self.create_publisher(JointState, names.ACTION, 10)
        self._diag_pub = self.create_publisher(DiagnosticArray, names.PLANNER_DIAGNOSTICS, 10)
        self._cycle_pub = self.create_publisher(JointState, names.PLANNER_CYCLE, 10)
        self._marker_pub = self.create_publisher(MarkerArray, names.PLANNER_MARKERS, 10)
        self.create_subscription(Image, names.LATENT, self._on_latent, 1)
        self.create_subscription(JointState, names.EE_STATE, self._on_state, 10)
        self.create_subscription(Image, names.GOAL_LATENT, self._store("_goal"), LATCHED)
        self.create_subscription(TimeReference, names.MOTION, self._on_motion, LATCHED)
        self.create_subscription(
            TimeReference, names.GOAL_GRIPPER, self._store("_gripper"), LATCHED
        )
        self.create_subscription(Int32, names.GOAL_INDEX, self._on_index, LATCHED)
        self.create_service(SetBool, names.PLANNER_ENABLE, self._srv_enable)

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="planner-loop", daemon=True)
        self._thread.start()
        arrival = (
            f"arrival rule: energy <= {self.arrival.energy_threshold:.4f} and step <= "
            f"{self.arrival.max_step_m * 100:.1f} cm"
            if self.arrival.calibrated
            else "no arrival calibration for this model (vjepa2-calibrate): sub-goals advance "
            "on their cycle budget or /vjepa2/goal/next"
        )
        self.get_logger().info(
            f"planning with budget {c.budget} at <= {c.rate_hz} Hz on {c.model.device}, "
            f"{torch.get_num_threads()} torch threads "
            f"({'enabled' if self.enabled else 'waiting for ' + names.PLANNER_ENABLE}); {arrival}"
        )
        self._started = True

    def _reconfigure(self, config: PlannerConfig) -> str | None:
        """`ros2 param set` of a live parameter: the next cycle plans with the new settings."""
        planner = CEMPlanner(self.model, config.cem_config(self.model.spec), device=self._device)
        with self._lock:
            self.config, self.planner = config, planner
        self.get_logger().info(
            f"reconfigured: budget {config.budget}, seed {config.seed}, {config.rate_hz} Hz"
        )
        return None

    # ----------------------------------------------------------------- inputs
    def _store(self, attr: str):
        def callback(msg) -> None:
            with self._lock:
                setattr(self, attr, msg)
            self._wake.set()

        return callback

    def _on_latent(self, msg: Image) -> None:
        with self._lock:
            self._latent = msg
        self._wake.set()

    def _on_state(self, msg: JointState) -> None:
        try:
            values = msg_to_vector(msg, names.STATE_NAMES)
        except ValueError as exc:
            self.get_logger().error(f"{names.EE_STATE} ignored: {exc}", throttle_duration_sec=5.0)
            return
        with self._lock:
            self._states.add(stamp_to_sec(msg.header.stamp), values)

    def _on_motion(self, msg: TimeReference) -> None:
        report = msg_to_motion(msg)
        with self._lock:
            self._motion = report
        self._wake.set()

    def _on_index(self, msg: Int32) -> None:
        self._subgoal = msg.data

    def _srv_enable(self, request, response):
        self.enabled = bool(request.data)
        response.success = True
        response.message = "planner " + ("enabled" if self.enabled else "paused")
        self.get_logger().info(response.message)
        self._wake.set()
        return response

    # ----------------------------------------------------------------- the loop
    def _loop(self) -> None:
        while not self._stop.is_set():
            period = 1.0 / self.config.rate_hz  # live parameter
            started = time.monotonic()
            planned = False
            try:
                planned = self.cycle()
            except Exception as exc:  # a failed cycle is reported; the loop and node stay up
                self._report(skipped=f"error: {exc}")
                self.get_logger().error(f"planning cycle failed: {exc}")
            if planned:  # at most rate_hz actions per second
                self._stop.wait(max(0.0, period - (time.monotonic() - started)))
            else:  # wait for a new latent, motion report or goal (or look again after a period)
                self._wake.wait(period)
                self._wake.clear()

    def cycle(self) -> bool:
        """One receding-horizon step: gate the inputs, plan, publish the first action.

        Returns whether it planned (False: skipped, the reason is on diagnostics).
        """
        self.checks += 1
        with self._lock:
            latent, goal, motion = self._latent, self._goal, self._motion
            gripper = self._gripper
            newest_state = self._states.newest_stamp
            frame_stamp = stamp_to_sec(latent.header.stamp) if latent else None
            matched = (
                self._states.at(frame_stamp, self.limits.state_match_s)
                if frame_stamp is not None
                else None
            )
        self._cycle_start = self.get_clock().now()
        now = self._cycle_start.nanoseconds * 1e-9
        reason = self.gate.check(
            now=now,
            observation_stamp=frame_stamp,
            newest_state_stamp=newest_state,
            matched_state_stamp=matched[0] if matched else None,
            # -1 from the goal server: cleared or all done, whatever latent is latched
            goal_present=goal is not None and (self._subgoal is None or self._subgoal >= 0),
            enabled=self.enabled,
            motion=motion,
        )
        if reason:
            self._report(skipped=reason, goal=goal)
            return False
        goal_ns = _ns(goal.header.stamp)
        # A goal server publishes each sub-goal's gripper schedule with the goal's stamp; a goal
        # latent from elsewhere (no schedule ever received) is planned with the reference's free
        # gripper.
        if gripper is not None and _ns(gripper.header.stamp) != goal_ns:
            self._report(skipped=WAIT_GRIPPER, goal=goal)
            return False
        schedule = GripperSchedule.parse(gripper.source) if gripper is not None else None
        if goal_ns != self._planned_goal_ns:
            self.planner.reset()  # a new (sub-)goal: the previous plan is no warm start
            self._planned_goal_ns = goal_ns
        self.cycles += 1
        planner = self.planner
        self.gate.planned(frame_stamp)
        z_now = torch.from_numpy(msg_to_latent(latent))
        z_goal = torch.from_numpy(msg_to_latent(goal))
        result = planner.plan(z_now, torch.from_numpy(matched[1]), z_goal, schedule)
        if not np.all(np.isfinite(result.action)):
            self._report(skipped="planner produced a non-finite action", goal=goal)
            return False
        stamp = self.get_clock().now()
        self.gate.acted(stamp.nanoseconds * 1e-9)
        self._action_pub.publish(vector_to_msg(result.action, names.ACTION_NAMES, stamp))
        self.actions_published += 1
        settled = motion.settled_at if motion is not None else None
        timing = {
            "latent_age": now - frame_stamp,
            "settle_to_observation": frame_stamp - settled if settled is not None else float("nan"),
        }
        step = float(np.linalg.norm(result.action[:3]))
        arrived = self.arrival.arrived(result.energy, step)
        self._cycle_pub.publish(
            vector_to_msg(
                [
                    self.cycles,
                    result.energy,
                    result.best_energy,
                    step,
                    float(arrived),
                    result.diagnostics.latency_s,
                    frame_stamp,
                    stamp.nanoseconds * 1e-9,
                    timing["settle_to_observation"],
                ],
                names.CYCLE_NAMES,
                stamp=goal.header.stamp,
                frame_id=self.config.budget,
            )
        )
        self._marker_pub.publish(
            plan_markers(
                matched[1][:3], result.action[:3], result.energy, stamp.to_msg(), names.BASE_FRAME
            )
        )
        self._report(result=result, goal=goal, timing=timing)
        return True

    def _report(self, skipped: str = "", result=None, goal=None, timing=None) -> None:
        # One line per fault, not per cycle: "stale camera: 1.2 s old" and "...: 1.4 s old" are
        # one kind, and the waits of every cycle (settle, fresh frame) are not faults.
        kind = skipped.split(":")[0]
        if skipped and not routine(skipped) and kind != self._warned:
            self.get_logger().warning(f"cycle {self.cycles + 1} skipped: {skipped}")
            self._warned = kind
        elif not skipped and self._warned:
            self.get_logger().info("planning resumed")
            self._warned = ""
        values = {
            "cycle": self.cycles + 1 if skipped else self.cycles,
            "subgoal": -1 if self._subgoal is None else self._subgoal,
            "budget": self.config.budget,
            "skipped": skipped,
            "goal_stamp_ns": _ns(goal.header.stamp) if goal is not None else -1,
        }
        if result is not None:
            d = result.diagnostics
            values.update(
                energy=f"{result.energy:.6f}",
                best_energy=f"{result.best_energy:.6f}",
                latency_ms=f"{d.latency_s * 1e3:.1f}",
                iterations=d.iterations,
                predictor_forwards=d.predictor_forwards,
                latent_age_ms=f"{timing['latent_age'] * 1e3:.1f}",
                settle_to_observation_ms=f"{timing['settle_to_observation'] * 1e3:.1f}",
                action=" ".join(f"{v:.4f}" for v in result.action),
            )
        msg = diagnostics_msg(
            names.PLANNER_STATUS_NAME,
            DiagnosticStatus.WARN if skipped else DiagnosticStatus.OK,
            skipped or f"energy {result.energy:.4f}",
            "vjepa2",
            {k: values[k] for k in names.PLANNER_KEYS if k in values},
            self._cycle_start.to_msg(),  # when the cycle began
        )
        self._diag_pub.publish(msg)

    def destroy_node(self) -> None:
        if not getattr(self, "_started", False):  # construction failed half-way
            return super().destroy_node()
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
        super().destroy_node()


def main(args=None) -> None:
    spin_node(PlannerNode, node_spec("planner").files, "planner", args)
