"""Command line: `python -m tmml_lite pretrain | zeroshot | premises | bench | merge | compare | bench-world |
bench-speed | bench-cost | thread-check` (see `--help`). Each subcommand is one function below, `_<name>(args)`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields


def _device(requested: str | None) -> str:
    """--device, or the GPU when there is one (the full profile's models must not stay on the CPU)."""
    import torch
    return requested or ("cuda" if torch.cuda.is_available() else "cpu")


def _pretrain(args) -> int:
    from .backbone import TINY_CHECKPOINT
    from .pretrain import PretrainConfig, pretrain
    cfg = PretrainConfig(**{f.name: getattr(args, f.name) for f in fields(PretrainConfig)})
    log = pretrain(cfg, run_dir=args.run_dir, out=args.out or TINY_CHECKPOINT)
    print(f"final loss {log['losses'][-1]:.3f} (mean of last 50 steps "
          f"{sum(log['losses'][-50:]) / len(log['losses'][-50:]):.3f}); {log['seconds'] / 60:.1f} min")
    return 0


def _zeroshot(args) -> int:
    import json
    from .backbone import TINY_CHECKPOINT, TINY_MODEL, create_tiny
    from .zeroshot import zeroshot_table
    backbone = create_tiny(TINY_MODEL, args.checkpoint or TINY_CHECKPOINT)
    rows = zeroshot_table(backbone)
    print(f"{'task':14s} {'classes':>7s} {'chance':>7s} {'photo':>7s} {'task':>7s}")
    for r in rows:
        print(f"{r['task']:14s} {r['classes']:7d} {r['chance']:7.1f} {r['clip_template']:7.1f} "
              f"{r['task_templates']:7.1f}")
    if args.write:
        path = TINY_CHECKPOINT.with_suffix(".zeroshot.json")
        path.write_text(json.dumps(rows, indent=1) + "\n")
        print(f"wrote {path.name}")
    return 0


def _bench_world(args) -> int:
    from .pretrain import benchmark_rendering
    r = benchmark_rendering()
    print(f"batch of {r['batch_size']}: render {r['render_s']:.3f} s "
          f"({1e3 * r['render_s'] / r['batch_size']:.2f} ms/image), training step {r['step_s']:.3f} s; "
          f"render / step = {r['render_s'] / r['step_s']:.2f} (pretraining renders the next batch in a "
          f"background thread while the current one trains)")
    return 0


def _bench_speed(args) -> int:
    import torch
    from .backbone import load_clip
    from .bench import bench_speed, format_bench
    backbone = load_clip(device=_device(args.device))
    device = next(backbone.model.parameters()).device
    rows = bench_speed(backbone, task=args.task, steps=args.steps)
    print(f"{backbone.name} on {device} ({torch.get_num_threads()} threads), base classes of {args.task!r}, "
          f"median of {args.steps} steps")
    print(format_bench(rows))
    cached = [r for r in rows if r["path"] == "ours"]
    print("ours encodes the training images once per run: "
          + ", ".join(f"{r['method']} {r['setup_s']:.2f} s" for r in cached))
    return 0


def _bench(args) -> int:
    from .backbone import load_clip
    from .grid import markdown_table, run_grid, summarize_rows
    from .methods import ABLATIONS, BOOK_METHODS
    k, n = (int(v) for v in args.shard.split("/"))
    backbone = load_clip(pretrained=args.checkpoint or "default", device=_device(args.device), profile=args.profile)
    if args.protocol != ["base-to-new"]:
        from .protocols import run_transfer
        if "base-to-new" in args.protocol:
            raise SystemExit("--protocol base-to-new runs alone; the other two share one training on the source")
        rows = run_transfer(args.methods or list(BOOK_METHODS), args.protocol, args.seeds, args.shots,
                            args.results, backbone, shard=(k, n))
        print(_transfer_tables(rows, args.protocol))
        return 0
    methods = args.methods or list(dict.fromkeys(BOOK_METHODS + ABLATIONS))
    from .datasets import is_dataset
    from .world import TASKS
    unknown = [t for t in args.tasks if t not in TASKS and not is_dataset(t)]
    if unknown:
        raise SystemExit(f"unknown tasks {unknown}; choose from the world's {', '.join(TASKS)} or the datasets "
                         f"of the full profile")
    rows = run_grid(methods, args.tasks, args.seeds, args.shots, args.results, backbone, shard=(k, n))
    print(markdown_table(summarize_rows(rows), methods=methods))
    return 0


def _transfer_tables(rows, protocols) -> str:
    """Each protocol in the papers' shape (source, each target, the average of the targets), seed means in %;
    in the full profile, the published ViT-B/16 rows below ours; then each learner's paired difference from
    zero-shot."""
    from .backbone import TINY_MODELS
    from .papers import published_transfer
    from .protocols import transfer_frame, transfer_paired_frame
    parts = []
    for name in protocols:
        frame = transfer_frame(rows, name)
        lines = ["| method | " + " | ".join(frame.columns) + " |", "|---|" + "---|" * len(frame.columns)]
        lines += [f"| {m} | " + " | ".join(f"{v:.1f}" for v in frame.loc[m]) + " |" for m in frame.index]
        if rows and rows[0]["backbone"] not in TINY_MODELS:  # like with like: only real datasets beside the papers'
            for method, values in published_transfer(name).items():
                lines.append(f"| {method} (paper) | " + " | ".join(
                    "" if values.get(c) is None else f"{values[c]:.2f}" for c in frame.columns) + " |")
        if "zero-shot" in frame.index:  # each learner against zero-shot, seed by seed
            for method in (m for m in frame.index if m != "zero-shot"):
                paired = transfer_paired_frame(rows, name, method, "zero-shot")
                lines.append(f"| {paired.index[0]} | " + " | ".join(paired.iloc[0]) + " |")
        parts.append(f"{name}, seed means (%); average = mean of the targets, source excluded; a learner − "
                     f"zero-shot is the paired difference over seeds, (tie) within twice its std\n\n"
                     + "\n".join(lines))
    return "\n\n".join(parts)


def _merge(args) -> int:
    from pathlib import Path
    from .datasets import is_dataset
    from .grid import markdown_table, read_rows, summarize_rows
    from .papers import markdown, paper_rows
    from .protocols import is_transfer_csv, read_transfer_rows
    if all(is_transfer_csv(path) for path in args.results):
        table = _transfer_tables(read_transfer_rows(*args.results), ["cross-dataset", "domain-generalization"])
        print(table)
        if args.out:
            Path(args.out).write_text(table + "\n")
        return 0
    summary = summarize_rows(read_rows(*args.results))
    table = markdown_table(summary)
    if args.papers or any(is_dataset(r["task"]) for r in summary):
        table += ("\n\nBeside the papers (ViT-B/16; each dataset beside its published row, our average beside "
                  "the papers' average over the same datasets; tmml_lite/assets/papers/ names the sources):\n\n"
                  + markdown(paper_rows(summary)))
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    return 0


def _premises(args) -> int:
    from pathlib import Path
    from . import premises as p
    from .backbone import load_clip
    from .world import TASKS
    backbone = load_clip(pretrained=args.checkpoint or "default", device=_device(args.device))
    tasks = [TASKS[t] for t in args.tasks or TASKS]
    rows = p.premise_rows(backbone, tasks, args.seeds, args.shots, args.results)
    print(p.premise_markdown(p.premise_table(rows)))
    results = Path(args.results)
    renderings = p.oracle_rows(p.RENDERING_STORE, p.rendering_oracle, backbone,
                               [t for t in tasks if t.domain.renderings],
                               results.with_name(results.stem + "_renderings.csv"))
    crops = p.oracle_rows(p.CROP_STORE, p.crop_oracle, backbone, [t for t in tasks if t.domain.distractors],
                          results.with_name(results.stem + "_crops.csv"))
    print(p.oracle_markdown(renderings, crops))
    checks = p.check_premises(rows, renderings, crops)
    if not args.tasks:  # (g) and (h): zero-shot and CoOp under the other two protocols
        from .protocols import run_transfer
        transfer = run_transfer(["zero-shot", "CoOp"], seeds=args.seeds, shots=args.shots, backbone=backbone,
                                results=results.with_name(results.stem + "_transfer.csv"))
        print(_transfer_tables(transfer, ["cross-dataset", "domain-generalization"]))
        checks.update(p.check_transfer(transfer))
    for letter, (holds, numbers) in checks.items():
        print(f"({letter}) {'holds' if holds else 'fails'}: {numbers}")
    return 0


def _compare(args) -> int:
    if args.a.endswith(".safetensors"):
        from .checkpoint import differing_tensors, load_tensors
        differ, total = differing_tensors(args.a, args.b), len(load_tensors(args.b))
        print(f"{total - len(differ)} of {total} tensors of {args.b} are equal in {args.a}")
    else:
        from .grid import differing_cells, read_rows
        reference = read_rows(args.b)
        differ, total = differing_cells(read_rows(args.a), reference), len(reference)
        print(f"{total - len(differ)} of {total} cells of {args.b} have the same Base and New in {args.a}")
    for item in differ[:20]:
        print("  differs:", item)
    return 1 if differ else 0


def _bench_cost(args) -> int:
    import torch
    from .backbone import load_clip
    from .bench import cost_vs_classes
    from .cocoop import CoCoOp
    from .tmml import TMML
    pretrained = None if args.pretrained == "none" else args.pretrained
    backbone = load_clip(args.model, pretrained=pretrained, device=_device(args.device))
    rows = cost_vs_classes(backbone, (CoCoOp, TMML), args.classes, args.batch_size, args.steps, args.warmup)
    device = next(backbone.model.parameters()).device
    print(f"{backbone.name} on {device} ({torch.get_num_threads()} threads), batch {args.batch_size}, "
          f"class_chunk 16, median of {args.steps} steps")
    print(f"{'method':7s} {'classes':>7s} {'s/step':>8s} {'peak MB':>9s}")
    for r in rows:
        print(f"{r['method']:7s} {r['classes']:7d} {r['step_s']:8.2f} {r['memory_mb']:9.1f}")
    return 0


def _thread_check(args) -> int:
    import torch
    from .backbone import TINY_CHECKPOINT, TINY_MODEL, create_tiny
    from .bench import thread_dependence
    from .engine import TrainConfig
    cfg = TrainConfig() if args.epochs is None else TrainConfig(epochs=args.epochs)
    first = f"{args.threads[0]} thread{'s' if args.threads[0] > 1 else ''}"
    print(f"CoOp on {args.task!r}, seed {args.seed}, the book's CoOp recipe for {cfg.epochs} epochs; "
          f"ctx gap = largest |ctx - ctx with {first}|")
    print(f"{'dtype':8s} {'threads':>7s} {'Base':>6s} {'New':>6s} {'ctx gap':>8s}")
    for name in args.dtypes:
        backbone = create_tiny(TINY_MODEL, TINY_CHECKPOINT, getattr(torch, name))
        for r in thread_dependence(backbone, args.threads, args.task, args.seed, cfg):
            print(f"{name:8s} {r['threads']:7d} {r['base']:6.2f} {r['new']:6.2f} {r['ctx_gap']:8.1e}")
    return 0


def _parser() -> argparse.ArgumentParser:
    from .pretrain import PretrainConfig
    parser = argparse.ArgumentParser(prog="python -m tmml_lite", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pretrain", help="pretrain TinyCLIP on the procedural world (resumable)")
    for f in fields(PretrainConfig):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    p.add_argument("--run-dir", default="runs/pretrain", help="checkpoints for resuming go here")
    p.add_argument("--out", default=None, help="final weights (default: the checkpoint shipped in the package)")
    z = sub.add_parser("zeroshot", help="zero-shot accuracy of the tiny checkpoint on every task")
    z.add_argument("--checkpoint", default=None, help="TinyCLIP weights (default: the shipped checkpoint)")
    z.add_argument("--write", action="store_true", help="store the table beside the shipped checkpoint")
    w = sub.add_parser("bench-world", help="time rendering a pretraining batch against a training step on it")
    s = sub.add_parser("bench-speed", help="time a CoOp and a CoCoOp training step: naive (77 tokens, images "
                                           "re-encoded) against ours (truncated prompts, cached features)")
    s.add_argument("--task", default="shapes", help="downstream task whose base classes are trained on")
    s.add_argument("--steps", type=int, default=10, help="timed steps per path (median reported)")
    s.add_argument("--device", default=None, help="e.g. cuda; default: cuda if available, else cpu")
    b = sub.add_parser("bench", help="the base-to-new grid: methods x tasks x seeds, one CSV row per run "
                                     "(resumable: finished runs are skipped); or the other two protocols")
    b.add_argument("--protocol", nargs="+", default=["base-to-new"],
                   choices=["base-to-new", "cross-dataset", "domain-generalization"],
                   help="cross-dataset and domain-generalization train once on their shared source (all its "
                        "classes) and write one row per (method, seed, tested task)")
    b.add_argument("--methods", nargs="+", default=None, help="default: the book's methods (and, for "
                                                              "base-to-new, TMML's ablations)")
    b.add_argument("--tasks", nargs="+", default=["shapes", "textures", "digits"],
                   help="base-to-new only (the other protocols have their own)")
    b.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    b.add_argument("--shots", type=int, default=16)
    b.add_argument("--results", default="results/grid.csv", help="CSV the rows are appended to")
    b.add_argument("--shard", default="1/1", help="k/n: run every n-th cell from the k-th (SLURM arrays, Colab)")
    b.add_argument("--device", default=None, help="e.g. cuda; default: cuda if available, else cpu")
    b.add_argument("--profile", choices=["tiny", "full"], default=None,
                   help="tiny (TinyCLIP) or full (ViT-B-16); default: $TMML_PROFILE, else CUDA -> full")
    b.add_argument("--checkpoint", default=None, help="TinyCLIP weights (default: the shipped checkpoint)")
    m = sub.add_parser("merge", help="summary table (Markdown) of one or more result CSVs: base-to-new, or "
                                     "cross-dataset and domain generalization in the papers' shape")
    m.add_argument("results", nargs="+", help="CSV files written by `bench` (all of one protocol family)")
    m.add_argument("--out", default=None, help="also write the table(s) to this file")
    m.add_argument("--papers", action="store_true",
                   help="also the papers' shape: Base / New / H per dataset and averaged, beside the published "
                        "ViT-B/16 numbers (always when the results include a real dataset)")
    r = sub.add_parser("premises", help="the field's premises on the tiny world: zero-shot, a 16-shot linear "
                                        "probe and CoOp per task, with paired differences over seeds")
    r.add_argument("--tasks", nargs="+", default=None, help="default: every task of the world, the oracles of "
                   "(e) and (f) (rows in RESULTS_renderings.csv and _crops.csv), and (g) and (h): zero-shot and "
                   "CoOp under the other two protocols (RESULTS_transfer.csv)")
    r.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    r.add_argument("--shots", type=int, default=16)
    r.add_argument("--results", default="results/premises.csv", help="CSV the rows are appended to (resumable)")
    r.add_argument("--device", default=None, help="e.g. cuda; default: cuda if available, else cpu")
    r.add_argument("--checkpoint", default=None, help="TinyCLIP weights (default: the shipped checkpoint)")
    q = sub.add_parser("compare", help="do two files hold the same numbers? result CSVs of `bench` (Base and "
                                       "New of every cell) or safetensors checkpoints (every tensor)")
    q.add_argument("a", help="a regenerated file, e.g. results/ablation.csv or runs/TinyCLIP-P8.safetensors")
    q.add_argument("b", help="the file to compare with, e.g. tmml_lite/assets/ablation.csv")
    c = sub.add_parser("bench-cost", help="time and peak memory of a training step against the number of "
                                          "classes, for CoCoOp and TMML")
    c.add_argument("--model", default=None, help="open_clip model name (default: the profile's)")
    c.add_argument("--pretrained", default="default", help="pretrained tag; 'none' for random weights")
    c.add_argument("--classes", nargs="+", type=int, default=[10, 50, 100, 200])
    c.add_argument("--batch-size", type=int, default=4)
    c.add_argument("--steps", type=int, default=2, help="timed steps per point (median reported)")
    c.add_argument("--warmup", type=int, default=1, help="untimed steps before them")
    c.add_argument("--device", default=None)
    t = sub.add_parser("thread-check", help="does the thread count change what a run learns? the same CoOp "
                                            "run with each thread count, in float32 and in float64")
    t.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    t.add_argument("--dtypes", nargs="+", choices=["float32", "float64"], default=["float32", "float64"])
    t.add_argument("--task", default="textures")
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--epochs", type=int, default=None, help="default: the book's CoOp recipe (TrainConfig())")
    p.set_defaults(run=_pretrain)
    w.set_defaults(run=_bench_world)
    z.set_defaults(run=_zeroshot)
    s.set_defaults(run=_bench_speed)
    b.set_defaults(run=_bench)
    m.set_defaults(run=_merge)
    r.set_defaults(run=_premises)
    q.set_defaults(run=_compare)
    c.set_defaults(run=_bench_cost)
    t.set_defaults(run=_thread_check)
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
