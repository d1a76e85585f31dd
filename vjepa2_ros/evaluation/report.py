"""Evaluation outputs: text table, CSV, JSON, PNG plots and one self-contained HTML report.

Everything is written into a temporary folder beside the destination and moved into place only
when complete, so a failure never leaves half-written outputs.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vjepa2_ros import interfaces as names
from vjepa2_ros.evaluation.episodes import AGGREGATE_METRICS, Aggregate, EvaluatedBag, Metrics

COLUMNS = (
    ("episode", "episode"),
    ("subgoal", "subgoal"),
    ("task", "task"),
    ("success", "success"),
    ("error_m", "error_cm"),
    ("cycles", "cycles"),
    ("time_s", "time_s"),
    ("final_energy", "final_energy"),
    ("latency_p50_ms", "lat_p50_ms"),
    ("latency_p95_ms", "lat_p95_ms"),
    ("control_rate_hz", "rate_hz"),
    ("safety_events", "safety"),
)


def _cell(key: str, value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "error_m":
        return f"{100 * value:.1f}"
    if isinstance(value, float):
        return f"{value:.4g}" if key in ("final_energy",) else f"{value:.2f}"
    return str(value)


def table_rows(episodes: Sequence[EvaluatedBag]) -> list[Metrics]:
    """Sub-goal rows of each episode followed by its "all" row."""
    return [r for e in episodes for r in (*e.rows, e.summary)]


def format_table(rows: Sequence[Metrics]) -> str:
    """A fixed-width text table, one line per row."""
    header = [title for _, title in COLUMNS]
    body = [[_cell(k, getattr(r, k)) for k, _ in COLUMNS] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *body)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def compare_rows(a: Aggregate, b: Aggregate) -> list[dict]:
    """Per metric: A, B and B - A (None where either is missing)."""
    rows = []
    for metric in AGGREGATE_METRICS:
        va, vb = a.values.get(metric), b.values.get(metric)
        diff = vb - va if va is not None and vb is not None else None
        rows.append({"metric": metric, a.label: va, b.label: vb, "difference": diff})
    return rows


def format_compare(a: Aggregate, b: Aggregate) -> str:
    def fmt(v):
        return "-" if v is None else f"{v:.4g}"

    header = ["metric", a.label, b.label, f"{b.label} - {a.label}"]
    body = [
        [r["metric"], fmt(r[a.label]), fmt(r[b.label]), fmt(r["difference"])]
        for r in compare_rows(a, b)
    ]
    widths = [max(len(x) for x in col) for col in zip(header, *body)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Plots


def _figure(width: float = 6.0, height: float = 3.5):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), dpi=100)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def plot_energy(episode: EvaluatedBag, path: Path) -> None:
    """Energy of each planned cycle, dashed lines where the sub-goal switches."""
    fig, ax = _figure()
    planned = [c for c in episode.cycles if c.skipped == ""]
    xs = np.arange(len(planned))
    ax.plot(xs, [c.energy for c in planned], marker=".", label="energy (returned plan)")
    best = [c.best_energy for c in planned]
    if any(math.isfinite(v) for v in best):
        ax.plot(xs, best, linestyle=":", label="best energy")
    for k in range(1, len(episode.segments)):
        start = episode.segments[k].start_ns
        switch = sum(1 for c in planned if c.stamp_ns < start)
        ax.axvline(switch - 0.5, color="grey", linestyle="--")
        ax.text(
            switch - 0.4,
            ax.get_ylim()[1],
            f"sub-goal {episode.segments[k].subgoal}",
            va="top",
            fontsize=8,
        )
    ax.set_xlabel("planned cycle")
    ax.set_ylabel("energy")
    ax.set_title(f"{episode.name}: energy per cycle")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_latency(episodes: Sequence[EvaluatedBag], path: Path) -> None:
    """Histogram of planning latency, one series per episode."""
    fig, ax = _figure()
    for e in episodes:
        lat = [c.latency_ms for c in e.cycles if c.skipped == "" and math.isfinite(c.latency_ms)]
        if lat:
            ax.hist(lat, bins=20, alpha=0.6, label=e.name)
    ax.set_xlabel("planning latency (ms)")
    ax.set_ylabel("cycles")
    ax.set_title("planning latency")
    if episodes:
        ax.legend(fontsize=8)
    _save(fig, path)


def plot_path(episode: EvaluatedBag, path: Path) -> None:
    """End-effector path seen from above, with the goal-truth targets."""
    fig, ax = _figure(4.5, 4.5)
    if len(episode.ee_path):
        ax.plot(episode.ee_path[:, 0], episode.ee_path[:, 1], marker=".", label="end effector")
        ax.plot(*episode.ee_path[0], "go", label="start")
        ax.plot(*episode.ee_path[-1], "bs", label="end")
    else:
        ax.text(
            0.5, 0.5, "no /franka/ee_state or ground truth", ha="center", transform=ax.transAxes
        )
    if len(episode.ee_targets):
        ax.plot(episode.ee_targets[:, 0], episode.ee_targets[:, 1], "r*", ms=12, label="target")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(f"{episode.name}: end-effector path (top view)")
    ax.legend(fontsize=8)
    _save(fig, path)


def _frame_at(messages, at_ns: int):
    from vjepa2_ros.data.messages import ImageEncodingError, rgb_from_image

    chosen = None
    for stamp, msg in messages:
        if stamp > at_ns:
            break
        chosen = msg
    if chosen is None:
        return None
    try:
        return rgb_from_image(chosen)
    except ImageEncodingError:
        return None


def plot_frames(episode: EvaluatedBag, path: Path) -> None:
    """For each sub-goal: its goal image beside the last camera frame of the segment."""
    import matplotlib.pyplot as plt

    n = len(episode.segments)
    fig, axes = plt.subplots(n, 2, figsize=(5.0, 2.6 * n), dpi=100, squeeze=False)
    goals = episode.bag.messages.get(names.GOAL_IMAGE, [])
    frames = episode.bag.messages.get(names.CAMERA_IMAGE, [])
    for row, seg in zip(axes, episode.segments):
        for ax, images, title in (
            (row[0], goals, f"goal {seg.subgoal}"),
            (row[1], frames, f"final frame {seg.subgoal}"),
        ):
            image = _frame_at(images, seg.end_ns)
            if image is None:
                ax.text(0.5, 0.5, "not recorded", ha="center", transform=ax.transAxes)
            else:
                ax.imshow(image)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    _save(fig, path)


# --------------------------------------------------------------------------------------------
# Files


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "run"


def _json_value(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _html_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in line) + "</tr>" for line in body
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _html(
    title: str, episodes: Sequence[EvaluatedBag], images: dict[str, list[tuple[str, Path]]], compare
) -> str:
    rows = table_rows(episodes)
    table = _html_table(
        [t for _, t in COLUMNS], [[_cell(k, getattr(r, k)) for k, _ in COLUMNS] for r in rows]
    )
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>",
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}",
        "td,th{border:1px solid #bbb;padding:2px 8px;text-align:right}",
        "img{max-width:100%;margin:4px;border:1px solid #ddd}",
        "</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    runs = run_lines(episodes)
    if runs:
        parts.append("<h2>Run and verdict</h2><pre>" + html.escape("\n".join(runs)) + "</pre>")
    if compare is not None:
        a, b = compare
        crow = compare_rows(a, b)
        fmt = lambda v: "-" if v is None else f"{v:.4g}"  # noqa: E731
        parts.append(f"<h2>Compare: {html.escape(a.label)} vs {html.escape(b.label)}</h2>")
        parts.append(
            _html_table(
                ["metric", a.label, b.label, f"{b.label} - {a.label}"],
                [
                    [r["metric"], fmt(r[a.label]), fmt(r[b.label]), fmt(r["difference"])]
                    for r in crow
                ],
            )
        )
    parts.append("<h2>Episodes and sub-goals</h2>" + table)
    for e in episodes:
        for note in e.notes:
            parts.append(f"<p><b>{html.escape(e.name)}</b>: {html.escape(note)}</p>")
    for section, pngs in images.items():
        parts.append(f"<h2>{html.escape(section)}</h2>")
        for alt, png in pngs:
            parts.append(f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{_b64(png)}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    out: str | Path,
    episodes: Sequence[EvaluatedBag],
    compare: tuple[Aggregate, Aggregate] | None = None,
    title: str = "vjepa2_ros evaluation",
) -> Path:
    """Write table.txt, episodes.csv, episodes.json, plots/*.png and report.html into `out`.

    Built in a temporary sibling folder and swapped in at the end: `out` is either the complete
    new report or (on any error) left as it was.
    """
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        _write_all(work, episodes, compare, title)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            out.rename(old / out.name)
            work.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out


def run_lines(episodes: Sequence[EvaluatedBag]) -> list[str]:
    """Run metadata and verdict of each episode whose run folder holds a summary.json
    (make demo, the graph-mode evaluation): model, budget, seed, commit, verdict per sub-goal."""
    lines = []
    for e in episodes:
        summary = e.bag.path.parent / "summary.json"
        if not summary.is_file():
            continue
        s = json.loads(summary.read_text())
        meta = ", ".join(
            f"{k} {s[k]}" for k in ("task", "model", "budget", "seed", "commit") if k in s
        )
        lines.append(f"{e.name}: {meta}")
        for sub in s.get("subgoals", []):
            error = "n/a" if sub.get("error_m") is None else f"{sub['error_m'] * 100:.1f} cm"
            tag = "REACHED" if sub.get("reached") else "NOT REACHED"
            lines.append(
                f"  sub-goal {sub['index'] + 1}: {tag}, error {error}, {sub.get('cycles')} cycles"
            )
        verdict = s.get("verdict", "?").upper()
        lines.append(f"  verdict: {verdict}" + (f" ({s['failure']})" if s.get("failure") else ""))
    return lines


def _write_all(work: Path, episodes, compare, title) -> None:
    rows = table_rows(episodes)
    text = format_table(rows)
    if compare is not None:
        text = format_compare(*compare) + "\n\n" + text
    runs = run_lines(episodes)
    if runs:
        text = "\n".join(runs) + "\n\n" + text
    (work / "table.txt").write_text(text + "\n")
    _write_csv(work / "episodes.csv", [r.as_dict() for r in rows])
    document = {
        "rows": [{k: _json_value(v) for k, v in r.as_dict().items()} for r in rows],
        "episodes": [
            {"name": e.name, "bag": str(e.bag.path), "notes": e.notes, "counts": e.bag.counts}
            for e in episodes
        ],
    }
    if compare is not None:
        crow = compare_rows(*compare)
        _write_csv(work / "compare.csv", crow)
        document["compare"] = {
            "labels": [compare[0].label, compare[1].label],
            "metrics": [{k: _json_value(v) for k, v in r.items()} for r in crow],
        }
    (work / "episodes.json").write_text(json.dumps(document, indent=2) + "\n")
    plots = work / "plots"
    plots.mkdir()
    images: dict[str, list[tuple[str, Path]]] = {
        "Energy per cycle": [],
        "Planning latency": [],
        "End-effector path (top view)": [],
        "Goal vs final camera frame": [],
    }
    latency = plots / "latency_hist.png"
    plot_latency(episodes, latency)
    images["Planning latency"].append(("latency histogram", latency))
    for i, e in enumerate(episodes):
        stem = f"{i:02d}_{_slug(e.name)}"
        for section, kind, plot in (
            ("Energy per cycle", "energy", plot_energy),
            ("End-effector path (top view)", "path", plot_path),
            ("Goal vs final camera frame", "frames", plot_frames),
        ):
            png = plots / f"{stem}_{kind}.png"
            plot(e, png)
            images[section].append((f"{e.name} {kind}", png))
    (work / "report.html").write_text(_html(title, episodes, images, compare))
