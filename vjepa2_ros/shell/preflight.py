"""vjepa2-preflight: check a real cell before the first launch, and print a checklist.

    vjepa2-preflight --robot-ip 172.16.0.2 --cell ~/cells/lab_a.yaml --checkpoint models/vjepa2-ac-vitg.pt

Each line says what was checked, what was found and, when it fails, what to do. Nothing moves:
the robot is only probed for an open FCI port, the camera only listened to. Exit status 0 when
nothing failed (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

FCI_PORT = 1337  # libfranka's command port on the robot (franky-sim binds it too)


@dataclass
class Check:
    name: str
    status: str  # "ok", "warn", "FAIL"
    detail: str

    def line(self) -> str:
        return f"[{self.status:>4}] {self.name}: {self.detail}"


def check_discovery() -> Check:
    value = os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "")
    if value.upper() in ("", "LOCALHOST"):
        return Check(
            "discovery range",
            "ok",
            f"{value or 'unset (the nodes set LOCALHOST)'}: only this machine sees the graph",
        )
    return Check(
        "discovery range",
        "warn",
        f"{value}: other machines on the network can see and command the graph; keep it "
        "LOCALHOST unless the cell spans machines (then use security:=<keystore>)",
    )


def check_robot(ip: str, timeout_s: float = 2.0) -> Check:
    try:
        with socket.create_connection((ip, FCI_PORT), timeout=timeout_s):
            pass
    except OSError as exc:
        return Check(
            "robot",
            "FAIL",
            f"no FCI answer at {ip}:{FCI_PORT} ({exc}): is the arm on, FCI activated in Desk, "
            "the network cable on the Control box, and this machine in its subnet?",
        )
    return Check("robot", "ok", f"FCI port open at {ip}:{FCI_PORT}")


def check_realtime() -> Check:
    rt = Path("/sys/kernel/realtime")
    if rt.is_file() and rt.read_text().strip() == "1":
        return Check("realtime kernel", "ok", "PREEMPT_RT")
    return Check(
        "realtime kernel",
        "FAIL",
        "not a PREEMPT_RT kernel: libfranka's 1 kHz loop needs one on a real arm (README "
        "'A real FR3')",
    )


def check_safety(files: list[str]) -> Check:
    from vjepa2_ros.config import ConfigError, load_node_config
    from vjepa2_ros.robot.config import RobotConfig

    try:
        cfg = load_node_config(RobotConfig, files, "franka_bridge")
    except (ConfigError, FileNotFoundError) as exc:
        return Check("safety config", "FAIL", str(exc))
    s = cfg.safety
    detail = (
        f"box {list(s.workspace_min)} .. {list(s.workspace_max)} m ({s.workspace_mode}), "
        f"<= {s.max_translation_m} m and {s.max_rotation_rad} rad per action, tilt <= "
        f"{s.max_tilt_rad} rad, speed cap {s.max_speed_m_s} m/s, auto_arm {cfg.auto_arm}"
    )
    if cfg.auto_arm and not cfg.use_sim:
        return Check("safety config", "warn", detail + ": a real arm should start disarmed")
    return Check("safety config", "ok", detail)


def check_model(checkpoint: str, preset: str, device: str, dtype: str) -> list[Check]:
    import torch

    from vjepa2_ros.model.checkpoint import inspect_checkpoint
    from vjepa2_ros.model.config import ModelConfig, resolve_dtype
    from vjepa2_ros.planning.arrival import load_rule

    checks = []
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            checks.append(
                Check(
                    "GPU",
                    "FAIL",
                    f"device {device} but torch {torch.__version__} sees no GPU: install a CUDA "
                    "build (TORCH_SPEC, README) and check nvidia-smi",
                )
            )
        else:
            name = torch.cuda.get_device_name(torch.device(device))
            chosen = resolve_dtype(dtype, device, preset)
            ok = chosen != torch.bfloat16 or torch.cuda.is_bf16_supported()
            checks.append(
                Check(
                    "GPU",
                    "ok" if ok else "FAIL",
                    f"{name}, {str(chosen).removeprefix('torch.')}"
                    + ("" if ok else ": this GPU has no bf16; set dtype:=float16"),
                )
            )
    else:
        checks.append(Check("GPU", "warn", f"device {device}: planning on the CPU is slow"))
    path = ModelConfig(preset, checkpoint).checkpoint_path()
    if path is None:
        checks.append(
            Check("checkpoint", "FAIL", f"no checkpoint for {preset}: download it (README)")
        )
        return checks
    report = inspect_checkpoint(path, preset)
    status = "ok" if report.ok else "FAIL"
    checks.append(
        Check("checkpoint", status, f"{path}: " + "; ".join(report.problems or ["loadable"]))
    )
    rule = load_rule(path)
    checks.append(
        Check("arrival rule", "ok", f"energy <= {rule.energy_threshold:.4f} ({rule.source})")
        if rule.calibrated
        else Check(
            "arrival rule",
            "warn",
            "none beside the checkpoint: sub-goals advance only on their cycle budget or "
            "/vjepa2/goal/next (vjepa2-calibrate)",
        )
    )
    return checks


def check_camera(topic: str, seconds: float) -> Check:
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from vjepa2_ros.data.messages import COLOUR_ENCODINGS
    from vjepa2_ros.nodes.entrypoint import default_discovery_range

    default_discovery_range()
    rclpy.init()
    try:
        node = Node("vjepa2_preflight")
        frames: list[Image] = []
        node.create_subscription(Image, topic, frames.append, qos_profile_sensor_data)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.1)
        node.destroy_node()
    finally:
        rclpy.try_shutdown()
    if not frames:
        return Check(
            "camera",
            "FAIL",
            f"no image on {topic} in {seconds:.0f} s: start the driver (camera:=usb_cam or "
            "realsense2_camera) or remap its colour topic to it",
        )
    last = frames[-1]
    rate = (len(frames) - 1) / seconds
    problems = []
    if last.encoding not in COLOUR_ENCODINGS:
        problems.append(f"encoding {last.encoding} (use one of {', '.join(COLOUR_ENCODINGS)})")
    if rate < 3.0:
        problems.append("under 3 Hz (the model was trained on 4 Hz frames)")
    detail = f"{rate:.1f} Hz, {last.width}x{last.height} {last.encoding}"
    return Check(
        "camera",
        "FAIL" if problems else "ok",
        detail + ("; " + "; ".join(problems) if problems else ""),
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vjepa2-preflight", description=__doc__.split("\n\n")[0])
    p.add_argument("--robot-ip", default="", help="FCI address (default: robot.yaml + cell)")
    p.add_argument("--cell", default="", help="the cell's parameter file")
    p.add_argument("--checkpoint", default="")
    p.add_argument("--preset", default="vitg-ac")
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--camera-topic", default="/camera/image_raw")
    p.add_argument("--camera-seconds", type=float, default=3.0)
    p.add_argument("--sim", action="store_true", help="a simulated cell: no realtime check")
    args = p.parse_args(argv)
    files = ["robot.yaml"] + ([args.cell] if args.cell else [])
    from vjepa2_ros.config import load_node_config
    from vjepa2_ros.robot.config import RobotConfig

    checks = [check_discovery(), check_safety(files)]
    if checks[-1].status != "FAIL":
        ip = args.robot_ip or load_node_config(RobotConfig, files, "franka_bridge").robot_ip
        checks.append(check_robot(ip))
    if not args.sim:
        checks.append(check_realtime())
    checks += check_model(args.checkpoint, args.preset, args.device, args.dtype)
    checks.append(check_camera(args.camera_topic, args.camera_seconds))
    for check in checks:
        print(check.line())
    failed = [c for c in checks if c.status == "FAIL"]
    print(
        f"{len(checks) - len(failed)}/{len(checks)} passed"
        + (": fix the FAIL lines" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
