"""Command line: `python -m tmml_lite pretrain [--steps N] [--run-dir DIR] [--out FILE]`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields


def main(argv=None) -> int:
    from .pretrain import PretrainConfig

    parser = argparse.ArgumentParser(prog="python -m tmml_lite", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pretrain", help="pretrain TinyCLIP on the procedural world (resumable)")
    for f in fields(PretrainConfig):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    p.add_argument("--run-dir", default="runs/pretrain", help="checkpoints for resuming go here")
    p.add_argument("--out", default=None, help="final weights (default: the checkpoint shipped in the package)")
    args = parser.parse_args(argv)

    if args.command == "pretrain":
        from .backbone import TINY_CHECKPOINT
        from .pretrain import pretrain
        cfg = PretrainConfig(**{f.name: getattr(args, f.name) for f in fields(PretrainConfig)})
        log = pretrain(cfg, run_dir=args.run_dir, out=args.out or TINY_CHECKPOINT)
        print(f"final loss {log['losses'][-1]:.3f} (mean of last 50 steps "
              f"{sum(log['losses'][-50:]) / len(log['losses'][-50:]):.3f}); {log['seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
