"""vjepa2-eval on bags with known contents: every number checked against a hand computation."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from vjepa2_ros import interfaces as names
from vjepa2_ros.data import topics as T
from vjepa2_ros.data.bag import BagWriter, typestore
from vjepa2_ros.evaluation.cli import main
from vjepa2_ros.nodes.conversions import ACTION_NAMES as _ACTION
from vjepa2_ros.nodes.conversions import STATE_NAMES as _STATE

S = 1_000_000_000  # ns per second
T0 = 1_700_000_000 * S  # a wall-clock epoch, like a real recording
STORE = typestore()
TY = STORE.types


def _header(t_ns: int):
    stamp = TY["builtin_interfaces/msg/Time"](sec=t_ns // S, nanosec=t_ns % S)
    return TY["std_msgs/msg/Header"](stamp=stamp, frame_id="")


def _vector(t_ns: int, fields, values):
    empty = np.zeros(0, dtype=np.float64)
    return TY["sensor_msgs/msg/JointState"](
        header=_header(t_ns),
        name=list(fields),
        position=np.asarray(values, dtype=np.float64),
        velocity=empty,
        effort=empty,
    )


def _diag(t_ns: int, name: str, **values):
    kv = TY["diagnostic_msgs/msg/KeyValue"]
    status = TY["diagnostic_msgs/msg/DiagnosticStatus"](
        level=0,
        name=name,
        message="",
        hardware_id="",
        values=[kv(key=k, value=str(v)) for k, v in values.items()],
    )
    return TY["diagnostic_msgs/msg/DiagnosticArray"](header=_header(t_ns), status=[status])


def _image(t_ns: int, rgb):
    pixels = np.zeros((8, 8, 3), dtype=np.uint8) + np.asarray(rgb, dtype=np.uint8)
    return TY["sensor_msgs/msg/Image"](
        header=_header(t_ns),
        height=8,
        width=8,
        encoding="rgb8",
        is_bigendian=0,
        step=24,
        data=pixels.reshape(-1),
    )


def _pose(body, xyz):
    return [f"{body}.{a}" for a in ("x", "y", "z", "qw", "qx", "qy", "qz")], [*xyz, 1, 0, 0, 0]


def _planner(t, cycle, subgoal, energy, latency, skipped=""):
    return _diag(
        t,
        "vjepa2/planner",
        cycle=cycle,
        subgoal=subgoal,
        energy=energy,
        best_energy=energy - 0.01,
        latency_ms=latency,
        budget="fast",
        skipped=skipped,
    )


def _bridge(t, event, executed, rejected):
    return _diag(
        t,
        "franka_bridge",
        state="ok",
        safety_event=event,
        actions_executed=executed,
        actions_rejected=rejected,
    )


def write_reach_bag(path: Path) -> None:
    """Two reach sub-goals: 0 during [0, 10) s (reached, 1 cm), 1 during [10, 20) s (4 cm off)."""
    msgs: list[tuple[str, float, object]] = []

    def at(topic, seconds, make):
        msgs.append((topic, seconds, make(T0 + int(seconds * S))))

    Int32 = TY["std_msgs/msg/Int32"]
    for sec, index in ((0, 0), (10, 1), (20, -1)):
        at(names.GOAL_INDEX, sec, lambda t, i=index: Int32(data=i))
    for sec, cyc, sg, energy, lat in (
        (1, 0, 0, 0.9, 100),
        (2, 1, 0, 0.7, 200),
        (3, 2, 0, 0.5, 300),
        (4, 3, 0, 0.4, 400),
        (11, 5, 1, 0.6, 150),
        (12, 6, 1, 0.2, 250),
    ):
        at(names.PLANNER_DIAGNOSTICS, sec, lambda t, a=(cyc, sg, energy, lat): _planner(t, *a))
    at(names.PLANNER_DIAGNOSTICS, 5, lambda t: _planner(t, 4, 0, 9.9, 999, skipped="no latent"))
    for sec in [1, 2, 3, 4, 5, 11, 12, 13, 14, 15, 16, 17, 18]:
        at(names.ACTION, sec, lambda t: _vector(t, _ACTION, [0] * 7))
    for sec, event, ex, rej in (
        (3, "clipped: workspace", 3, 0),
        (3.5, "clipped: workspace", 3, 0),  # periodic repeat: the same event
        (12, "rejected: nan", 9, 1),
        (13, "", 10, 1),
    ):
        at(names.DIAGNOSTICS, sec, lambda t, a=(event, ex, rej): _bridge(t, *a))
    at(names.SIM_GOAL_TRUTH, 0.5, lambda t: _vector(t, *_pose("ee", (0.5, 0.0, 0.3))))
    at(names.SIM_GOAL_TRUTH, 10.5, lambda t: _vector(t, *_pose("ee", (0.5, 0.2, 0.3))))
    at(names.SIM_GROUND_TRUTH, 9, lambda t: _vector(t, *_pose("ee", (0.51, 0.0, 0.3))))
    at(names.SIM_GROUND_TRUTH, 19.5, lambda t: _vector(t, *_pose("ee", (0.5, 0.16, 0.3))))
    for sec, x, y in ((0.1, 0.4, -0.1), (5, 0.5, 0.0), (15, 0.5, 0.16)):
        at(names.EE_STATE, sec, lambda t, p=(x, y): _vector(t, _STATE, [*p, 0.3, 0, 0, 0, 0]))
    at(names.GOAL_IMAGE, 0.2, lambda t: _image(t, (0, 255, 0)))
    at(names.GOAL_IMAGE, 10.2, lambda t: _image(t, (0, 0, 255)))
    at(names.CAMERA_IMAGE, 9.5, lambda t: _image(t, (255, 0, 0)))
    at(names.CAMERA_IMAGE, 19, lambda t: _image(t, (255, 255, 255)))
    _write(path, msgs)


def write_place_bag(path: Path, cup_xyz, latencies) -> None:
    """One pick-and-place sub-goal over [0, 4] s; the cup's target is (0.4, 0.1, 0.05)."""
    msgs = []

    def at(topic, seconds, make):
        msgs.append((topic, seconds, make(T0 + int(seconds * S))))

    at(names.GOAL_INDEX, 0, lambda t: TY["std_msgs/msg/Int32"](data=0))
    for k, lat in enumerate(latencies):
        at(names.PLANNER_DIAGNOSTICS, 1 + k, lambda t, a=(k, lat): _planner(t, a[0], 0, 0.3, a[1]))
        at(names.ACTION, 1 + k, lambda t: _vector(t, _ACTION, [0] * 7))
    target = _pose("cup", (0.4, 0.1, 0.05))
    at(names.SIM_GOAL_TRUTH, 0.5, lambda t: _vector(t, *target))
    cup_fields, values = _pose("cup", cup_xyz)
    ee_fields, ee_values = _pose("ee", (0.0, 0.0, 0.5))
    at(names.SIM_GROUND_TRUTH, 4, lambda t: _vector(t, cup_fields + ee_fields, values + ee_values))
    _write(path, msgs)


def _write(path: Path, msgs) -> None:
    with BagWriter(path) as writer:
        for topic in dict.fromkeys(m[0] for m in msgs):
            writer.add_topic(topic, T.EVAL_TOPICS[topic], latched=topic == names.GOAL_INDEX)
        for topic, seconds, msg in sorted(msgs, key=lambda m: m[1]):
            writer.write_msg(topic, T0 + int(seconds * S), msg)


@pytest.fixture
def reach_bag(tmp_path) -> Path:
    write_reach_bag(tmp_path / "runs" / "reach_paper")
    return tmp_path / "runs" / "reach_paper"


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "episodes.csv").open() as f:
        return {row["subgoal"]: row for row in csv.DictReader(f)}


def test_eval_reach_bag_table_csv_json_pngs_html(reach_bag, tmp_path, capsys):
    out = tmp_path / "report"
    assert main([str(reach_bag.parent), "--out", str(out)]) == 0
    printed = capsys.readouterr().out

    rows = _rows(out)
    assert set(rows) == {"0", "1", "all"}
    r0, r1, ep = rows["0"], rows["1"], rows["all"]
    # Sub-goal 0: 4 planned cycles (the skipped one at 5 s does not count), 10 s, 5 actions.
    assert (r0["task"], r0["success"], r0["cycles"]) == ("reach", "True", "4")
    assert float(r0["error_m"]) == pytest.approx(0.01)
    assert float(r0["time_s"]) == pytest.approx(10.0)
    assert float(r0["final_energy"]) == pytest.approx(0.4)
    assert float(r0["latency_p50_ms"]) == pytest.approx(250.0)  # median of 100..400
    assert float(r0["latency_p95_ms"]) == pytest.approx(385.0)  # 300 + 0.85 * 100
    assert float(r0["control_rate_hz"]) == pytest.approx(0.5)
    assert (r0["safety_events"], r0["safety_reasons"]) == ("1", "clipped: workspace x1")
    # Sub-goal 1: ends 4 cm from its target (> 3 cm): failed.
    assert (r1["success"], r1["cycles"]) == ("False", "2")
    assert float(r1["error_m"]) == pytest.approx(0.04)
    assert float(r1["final_energy"]) == pytest.approx(0.2)
    assert float(r1["latency_p50_ms"]) == pytest.approx(200.0)
    assert float(r1["latency_p95_ms"]) == pytest.approx(245.0)
    assert float(r1["control_rate_hz"]) == pytest.approx(0.8)
    assert r1["safety_reasons"] == "rejected: nan x1"
    # Episode: judged at its end; latencies pooled [100, 150, 200, 250, 300, 400].
    assert (ep["success"], ep["cycles"], ep["safety_events"]) == ("False", "6", "2")
    assert float(ep["time_s"]) == pytest.approx(20.0)
    assert float(ep["latency_p50_ms"]) == pytest.approx(225.0)
    assert float(ep["latency_p95_ms"]) == pytest.approx(375.0)
    assert float(ep["control_rate_hz"]) == pytest.approx(13 / 20)

    document = json.loads((out / "episodes.json").read_text())
    assert [r["subgoal"] for r in document["rows"]] == ["0", "1", "all"]
    assert document["rows"][0]["latency_p95_ms"] == pytest.approx(385.0)
    assert document["rows"][2]["success"] is False

    table = (out / "table.txt").read_text()
    assert table.strip() in printed
    line0 = next(line for line in table.splitlines() if line.startswith("reach_paper  0 "))
    assert line0.split() == "reach_paper 0 reach yes 1.0 4 10.00 0.4 250.00 385.00 0.50 1".split()

    pngs = sorted(p.name for p in (out / "plots").iterdir())
    assert pngs == [
        "00_reach_paper_energy.png",
        "00_reach_paper_frames.png",
        "00_reach_paper_path.png",
        "latency_hist.png",
    ]
    html = (out / "report.html").read_text()
    for png in pngs:
        data = (out / "plots" / png).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 2000
    assert html.count("src='data:image/png;base64,") == 4
    assert "<td>385.00</td>" in html and "src='plots/" not in html  # self-contained
    assert not list(tmp_path.glob(".report.tmp-*"))


def test_frames_plot_shows_goal_and_final_frame_per_subgoal(reach_bag):
    from vjepa2_ros.data.bag import read_bag
    from vjepa2_ros.evaluation.episodes import evaluate_bag
    from vjepa2_ros.evaluation.report import _frame_at

    episode = evaluate_bag(read_bag(reach_bag))
    goals = episode.bag.messages[names.GOAL_IMAGE]
    frames = episode.bag.messages[names.CAMERA_IMAGE]
    picks = [
        (_frame_at(goals, s.end_ns)[0, 0].tolist(), _frame_at(frames, s.end_ns)[0, 0].tolist())
        for s in episode.segments
    ]
    assert picks == [([0, 255, 0], [255, 0, 0]), ([0, 0, 255], [255, 255, 255])]
    np.testing.assert_allclose(episode.ee_path, [[0.4, -0.1], [0.5, 0.0], [0.5, 0.16]])


def test_compare_mode_gives_per_metric_differences(tmp_path, capsys):
    write_place_bag(tmp_path / "paper" / "ep1", (0.43, 0.1, 0.05), [1000, 1200, 1400])  # 3 cm
    write_place_bag(tmp_path / "fast" / "ep1", (0.46, 0.1, 0.05), [100, 200])  # 6 cm: failed
    out = tmp_path / "cmp"
    argv = ["--compare", str(tmp_path / "paper"), "--against", str(tmp_path / "fast")]
    assert main([*argv, "--labels", "paper", "fast", "--out", str(out)]) == 0
    with (out / "compare.csv").open() as f:
        rows = {r["metric"]: r for r in csv.DictReader(f)}
    assert float(rows["success_rate"]["paper"]) == 1.0
    assert float(rows["success_rate"]["fast"]) == 0.0
    assert float(rows["success_rate"]["difference"]) == -1.0
    assert float(rows["latency_p50_ms"]["difference"]) == pytest.approx(150.0 - 1200.0)
    assert float(rows["cycles_per_subgoal"]["difference"]) == pytest.approx(-1.0)
    assert float(rows["time_per_episode_s"]["paper"]) == pytest.approx(4.0)
    printed = capsys.readouterr().out
    assert "fast - paper" in printed
    document = json.loads((out / "episodes.json").read_text())
    assert document["compare"]["labels"] == ["paper", "fast"]
    assert {r["task"] for r in document["rows"]} == {"pick_place"}
    assert [r["episode"] for r in document["rows"]] == ["paper/ep1"] * 2 + ["fast/ep1"] * 2


def _assert_fails(argv, tmp_path, capsys, *needles):
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_empty_bag_is_reported_and_nothing_written(tmp_path, capsys):
    with BagWriter(tmp_path / "empty") as writer:
        writer.add_topic(names.ACTION, T.EVAL_TOPICS[names.ACTION])
    _assert_fails([str(tmp_path / "empty")], tmp_path, capsys, "empty", "holds no messages")


def test_foreign_bag_names_the_missing_topics(tmp_path, capsys):
    with BagWriter(tmp_path / "chatter") as writer:
        writer.add_topic("/chatter", "std_msgs/msg/String")
        writer.write_msg("/chatter", T0, TY["std_msgs/msg/String"](data="hi"))
    _assert_fails(
        [str(tmp_path / "chatter")],
        tmp_path,
        capsys,
        "missing topic(s) /vjepa2/goal/index, /vjepa2/planner/diagnostics",
    )


def test_truncated_bag_beyond_recovery_is_reported(reach_bag, tmp_path, capsys):
    (reach_bag / "metadata.yaml").unlink()
    mcap = next(reach_bag.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[:120])  # cut inside the first chunk
    _assert_fails([str(reach_bag)], tmp_path, capsys, "truncated", "cut at byte")


def test_failure_keeps_the_previous_report(reach_bag, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([str(reach_bag), "--out", str(out)]) == 0
    before = (out / "episodes.csv").read_text()
    assert main([str(reach_bag), str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert (out / "episodes.csv").read_text() == before


def test_cut_bag_is_recovered_and_evaluated(reach_bag, tmp_path, capsys):
    (reach_bag / "metadata.yaml").unlink()  # killed before close: no metadata, no summary
    mcap = next(reach_bag.glob("*.mcap"))
    data = mcap.read_bytes()
    mcap.write_bytes(data[: len(data) - 200])  # the summary section is gone
    out = tmp_path / "out"
    assert main([str(reach_bag), "--out", str(out)]) == 0
    assert "recovered" in capsys.readouterr().err
    assert _rows(out)["all"]["cycles"] == "6"
