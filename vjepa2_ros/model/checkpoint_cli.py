"""`vjepa2-checkpoint inspect PATH`: is this file a usable V-JEPA 2-AC checkpoint?

Prints parameter counts, the preset the file matches (or the sizes it implies) and every
problem. Exit 0 when loadable, 1 with a clear message (never a traceback) otherwise.
"""

from __future__ import annotations

import argparse
import sys

from vjepa2_ros.model.presets import PRESETS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vjepa2-checkpoint", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ins = sub.add_parser("inspect", help="check a checkpoint file and print what it holds")
    ins.add_argument("path", help="checkpoint file, e.g. models/vjepa2-ac-vitg.pt")
    ins.add_argument("--preset", choices=sorted(PRESETS), help="require this preset's sizes")
    args = parser.parse_args(argv)
    try:
        from vjepa2_ros.model.checkpoint import inspect_checkpoint

        report = inspect_checkpoint(args.path, preset=args.preset)
    except Exception as exc:  # the CLI promises one message, never a traceback
        print(f"vjepa2-checkpoint: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(report.format(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
