"""planner: the receding-horizon loop, newest latent + ee_state + goal latent -> CEM -> action.

Planning runs in its own thread at `rate_hz`, never in the executor's callback threads, so
subscriptions and services (enable, the goal latent) stay responsive during a multi-second plan.
Every cycle reports on diagnostics: its energy and latency, or why it was skipped (stale camera,
no goal, disabled, ...). A non-finite plan is never published.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Int32
from std_srvs.srv import SetBool

from vjepa2_ros import interfaces as names
from vjepa2_ros.model.checkpoint import world_model_from_config
from vjepa2_ros.model.config import ModelConfig
from vjepa2_ros.nodes.conversions import (
    ACTION_NAMES,
    STATE_NAMES,
    msg_to_latent,
    msg_to_vector,
    stamp_to_sec,
    vector_to_msg,
)
from vjepa2_ros.nodes.entrypoint import spin_node
from vjepa2_ros.nodes.params import declare_config
from vjepa2_ros.nodes.qos import LATCHED
from vjepa2_ros.planning.cem import CEMPlanner
from vjepa2_ros.planning.config import PlannerConfig
from vjepa2_ros.planning.input_gate import CycleInputs, InputLimits, skip_reason


def _ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


class PlannerNode(Node):
    def __init__(self, *, parameter_overrides: dict | None = None, world_model=None, **kwargs):
        super().__init__("planner", **kwargs)
        self.config = declare_config(self, PlannerConfig, parameter_overrides)
        c = self.config
        model_config = ModelConfig(c.preset, c.checkpoint, c.device, c.dtype)
        self.model = (
            world_model if world_model is not None else world_model_from_config(model_config)
        )
        self.model.eval()
        self.planner = CEMPlanner(
            self.model, c.cem_config(self.model.spec), device=model_config.device
        )
        self.limits = InputLimits(c.max_latent_age_s, c.max_state_age_s)
        self.enabled = c.start_enabled
        self.cycles = 0
        self.actions_published = 0
        self.last_skip = ""
        self._cycle_start = self.get_clock().now()

        self._lock = threading.Lock()
        self._latent: Image | None = None
        self._state: JointState | None = None
        self._goal: Image | None = None
        self._subgoal: int | None = None  # None until a goal server publishes an index
        self._last_used_latent_ns: int | None = None
        self._planned_goal_ns: int | None = None

        self._action_pub = self.create_publisher(JointState, names.ACTION, 10)
        self._diag_pub = self.create_publisher(DiagnosticArray, names.PLANNER_DIAGNOSTICS, 10)
        self.create_subscription(Image, names.LATENT, self._store("_latent"), 1)
        self.create_subscription(JointState, names.EE_STATE, self._store("_state"), 1)
        self.create_subscription(Image, names.GOAL_LATENT, self._store("_goal"), LATCHED)
        self.create_subscription(Int32, names.GOAL_INDEX, self._on_index, LATCHED)
        self.create_service(SetBool, names.PLANNER_ENABLE, self._srv_enable)

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="planner-loop", daemon=True)
        self._thread.start()
        self.get_logger().info(
            f"planning with budget {c.budget} at <= {c.rate_hz} Hz on {c.device} "
            f"({'enabled' if self.enabled else 'waiting for ' + names.PLANNER_ENABLE})"
        )

    def _store(self, attr: str):
        def callback(msg) -> None:
            with self._lock:
                setattr(self, attr, msg)

        return callback

    def _on_index(self, msg: Int32) -> None:
        self._subgoal = msg.data

    def _srv_enable(self, request, response):
        self.enabled = bool(request.data)
        response.success = True
        response.message = "planner " + ("enabled" if self.enabled else "paused")
        self.get_logger().info(response.message)
        return response

    # ----------------------------------------------------------------- the loop
    def _loop(self) -> None:
        period = 1.0 / self.config.rate_hz
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.cycle()
            except Exception as exc:  # a failed cycle is reported; the loop and node stay up
                self._report(skipped=f"error: {exc}")
                self.get_logger().error(f"planning cycle failed: {exc}")
            self._stop.wait(max(0.0, period - (time.monotonic() - started)))

    def cycle(self) -> None:
        """One receding-horizon step: gate the inputs, plan, publish the first action."""
        self.cycles += 1
        with self._lock:
            latent, state, goal = self._latent, self._state, self._goal
        self._cycle_start = self.get_clock().now()
        now = self._cycle_start.nanoseconds * 1e-9
        reason = skip_reason(
            CycleInputs(
                now=now,
                latent_stamp=stamp_to_sec(latent.header.stamp) if latent else None,
                state_stamp=stamp_to_sec(state.header.stamp) if state else None,
                # -1 from the goal server: cleared or all done, whatever latent is latched
                goal_present=goal is not None and (self._subgoal is None or self._subgoal >= 0),
                enabled=self.enabled,
                last_used_latent_stamp=(
                    self._last_used_latent_ns * 1e-9 if self._last_used_latent_ns else None
                ),
            ),
            self.limits,
        )
        if reason:
            self._report(skipped=reason, goal=goal)
            return
        goal_ns = _ns(goal.header.stamp)
        if goal_ns != self._planned_goal_ns:
            self.planner.reset()  # a new (sub-)goal: the previous plan is no warm start
            self._planned_goal_ns = goal_ns
        self._last_used_latent_ns = _ns(latent.header.stamp)
        z_now = torch.from_numpy(msg_to_latent(latent))
        z_goal = torch.from_numpy(msg_to_latent(goal))
        ee = msg_to_vector(state, STATE_NAMES)
        result = self.planner.plan(z_now, torch.from_numpy(ee), z_goal)
        if not np.all(np.isfinite(result.action)):
            self._report(skipped="planner produced a non-finite action", goal=goal)
            return
        self._action_pub.publish(vector_to_msg(result.action, ACTION_NAMES, self.get_clock().now()))
        self.actions_published += 1
        self._report(result=result, goal=goal, latent_age=now - stamp_to_sec(latent.header.stamp))

    def _report(self, skipped: str = "", result=None, goal=None, latent_age=None) -> None:
        kind = skipped.split(":")[0]  # "stale camera: 1.2 s old" and "...: 1.4 s old" are one kind
        if skipped and kind != self.last_skip.split(":")[0]:
            self.get_logger().warning(f"cycle {self.cycles} skipped: {skipped}")
        elif not skipped and self.last_skip:
            self.get_logger().info("planning resumed")
        self.last_skip = skipped
        values = {
            "cycle": self.cycles,
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
                latent_age_ms=f"{latent_age * 1e3:.1f}",
                action=" ".join(f"{v:.4f}" for v in result.action),
            )
        status = DiagnosticStatus(
            level=DiagnosticStatus.WARN if skipped else DiagnosticStatus.OK,
            name=names.PLANNER_STATUS_NAME,
            message=skipped or f"energy {result.energy:.4f}",
            hardware_id="vjepa2",
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
        )
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self._cycle_start.to_msg()  # when the cycle began
        self._diag_pub.publish(msg)

    def destroy_node(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        super().destroy_node()


def main(args=None) -> None:
    spin_node(PlannerNode, "planner.yaml", "planner", args)
