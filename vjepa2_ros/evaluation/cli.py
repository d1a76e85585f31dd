"""vjepa2-eval: evaluate recorded runs (rosbag2 bags) and compare two sets of runs.

    vjepa2-eval RUN_OR_BAG... [--out DIR]
    vjepa2-eval --compare RUN_OR_BAG... --against RUN_OR_BAG... [--labels A B] [--out DIR]

A RUN folder may hold several bags. Prints the table per episode and sub-goal and writes
table.txt, episodes.csv, episodes.json, plots/*.png and report.html into DIR.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vjepa2_ros.config import ConfigError
from vjepa2_ros.data.bag import BagError, find_bags, read_bag
from vjepa2_ros.evaluation.episodes import (
    EVAL_READ_TOPICS,
    REQUIRED_TOPICS,
    EvalConfig,
    EvaluatedBag,
    aggregate,
    evaluate_bag,
)
from vjepa2_ros.evaluation.report import format_compare, format_table, table_rows, write_report


def load_episodes(
    paths: list[Path], cfg: EvalConfig, log=print, prefix: str = ""
) -> list[EvaluatedBag]:
    """Read and evaluate every bag under `paths`; a bag that cannot be read is named and
    skipped (a crashed run must not hide the others). A path that was named but does not exist
    or holds no bag is a mistake in the command, not a crashed run: BagError before any report
    is written. Raises BagError too when no bag is left.

    Episodes are named after their bag folders (with `prefix`, e.g. the set label).
    """
    found = [find_bags(path) for path in paths]
    episodes, errors = [], []
    for bags in found:
        for bag_path in bags:
            try:
                bag = read_bag(bag_path, EVAL_READ_TOPICS, required=REQUIRED_TOPICS)
                episode = evaluate_bag(bag, cfg, name=prefix + bag_path.name)
            except BagError as exc:
                errors.append(str(exc))
                continue
            for note in episode.notes:
                log(f"note: {bag_path.name}: {note}")
            episodes.append(episode)
    for error in errors:
        log(f"skipped: {error}")
    if not episodes:
        raise BagError("no readable bag:\n" + "\n".join(errors))
    return episodes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="vjepa2-eval", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("runs", nargs="*", type=Path, help="bags or run folders holding bags")
    parser.add_argument("--compare", nargs="+", type=Path, default=[], help="set A (baseline)")
    parser.add_argument("--against", nargs="+", type=Path, default=[], help="set B")
    parser.add_argument("--labels", nargs=2, default=["A", "B"], metavar=("A", "B"))
    parser.add_argument("--out", type=Path, default=Path("eval_report"), help="output folder")
    parser.add_argument("--reach-tol", type=float, default=EvalConfig.reach_tolerance_m)
    parser.add_argument("--place-tol", type=float, default=EvalConfig.place_tolerance_m)
    args = parser.parse_args(argv)
    if bool(args.compare) != bool(args.against):
        parser.error("compare mode needs both --compare A... and --against B...")
    if args.compare and args.runs:
        parser.error("give either RUN_OR_BAG... or --compare A... --against B..., not both")
    if not args.compare and not args.runs:
        parser.error("give at least one bag or run folder")
    if args.labels[0] == args.labels[1]:
        parser.error("--labels must differ")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log = lambda text: print(text, file=sys.stderr)  # noqa: E731
    try:
        cfg = EvalConfig(args.reach_tol, args.place_tol)
        compare = None
        if args.compare:
            label_a, label_b = args.labels
            set_a = load_episodes(args.compare, cfg, log, prefix=f"{label_a}/")
            set_b = load_episodes(args.against, cfg, log, prefix=f"{label_b}/")
            episodes = set_a + set_b
            compare = (aggregate(label_a, set_a), aggregate(label_b, set_b))
        else:
            episodes = load_episodes(args.runs, cfg, log)
        out = write_report(args.out, episodes, compare)
    except (BagError, ConfigError) as exc:
        print(f"vjepa2-eval: error: {exc}", file=sys.stderr)
        return 2
    if compare is not None:
        print(format_compare(*compare))
        print()
    print(format_table(table_rows(episodes)))
    print(f"\nwrote {out}/report.html (+ table.txt, episodes.csv, episodes.json, plots/)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
