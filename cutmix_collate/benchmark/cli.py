"""The benchmark's command line: ``python -m cutmix_collate.benchmark``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

import torch

from .data import CONFIGS, DATASETS
from .gpu import run_gpu_benchmark
from .loader import run_calltime_benchmark, run_collate_benchmark
from .metrics_section import run_metrics_benchmark
from .report import calltime_table, collate_table, machine_info, plot_collate

__all__ = ["main"]

DESCRIPTION = "Benchmark: CutMix in a DataLoader against ``default_collate`` and the alternatives."


def _parse_args(argv: Optional[List[str]]) -> Tuple[argparse.Namespace, List[str]]:
    """The command line, checked; returns the arguments and the sections to run."""
    parser = argparse.ArgumentParser(prog="python -m cutmix_collate.benchmark", description=DESCRIPTION)
    parser.add_argument("--sections", nargs="+", choices=["collate", "calltime", "metrics", "gpu"],
                        default=["calltime", "collate", "metrics"],
                        help="what to measure (default: calltime collate metrics; gpu needs CUDA)")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS),
                        help="batch configurations (default: all three)")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=["realistic", "memory", "augmented"],
                        help="realistic (JPEG decode + RandomResizedCrop + flip + normalise), in-memory "
                             "tensors, per-sample crop+flip (default: all three)")
    parser.add_argument("--batches", type=int, default=30,
                        help="batches per variant and repetition in the calltime section (default 30)")
    parser.add_argument("--workers", nargs="+", type=int, default=[0, 2],
                        help="num_workers values, persistent workers when > 0 (default: 0 2)")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions (default 5)")
    parser.add_argument("--images", type=int, default=None,
                        help="images per timed epoch (default: 100 batches at 32x32, 40 at 224x224)")
    parser.add_argument("--variants", nargs="+", default=None,
                        help="only variants whose name contains one of these (default_collate always runs)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="cuda adds the gpu section")
    parser.add_argument("--out", default="benchmark-out", help="folder for benchmark.json (and .png)")
    parser.add_argument("--plot", action="store_true", help="also write a bar chart (needs matplotlib)")
    args = parser.parse_args(argv)
    if args.batches < 2:
        parser.error(f"--batches must be >= 2, got {args.batches}")
    if args.reps < 1:
        parser.error(f"--reps must be >= 1, got {args.reps}")
    if any(w < 0 for w in args.workers):
        parser.error(f"--workers must be >= 0, got {args.workers}")
    sections = list(args.sections)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            parser.error("--device cuda: no CUDA GPU is available")
        if "gpu" not in sections:
            sections.append("gpu")
    elif "gpu" in sections and not torch.cuda.is_available():
        parser.error("--sections gpu: no CUDA GPU is available")
    return args, sections


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m cutmix_collate.benchmark``: run the sections, print tables, write benchmark.json."""
    args, sections = _parse_args(argv)

    command = ["python -m cutmix_collate.benchmark"] + (argv if argv is not None else sys.argv[1:])
    report: Dict[str, Any] = {"machine": machine_info(), "command": " ".join(command)}
    print(f"# {report['command']}\n# {report['machine']}")
    if "calltime" in sections:
        report["calltime"] = run_calltime_benchmark(args.configs, args.datasets, args.reps, args.batches,
                                                    only=args.variants)
        print("\n" + calltime_table(report["calltime"]))
    if "collate" in sections:
        rows, notes = run_collate_benchmark(
            args.configs, args.datasets, args.workers, args.reps, args.images, only=args.variants
        )
        report["collate"] = rows
        report["notes"] = notes
        print("\n" + collate_table(rows))
        for note in notes:
            print(f"note: {note}")
    if "metrics" in sections:
        report["metrics"] = run_metrics_benchmark()
        print("\nmetrics:", json.dumps(report["metrics"], indent=1))
    if "gpu" in sections:
        report["gpu"] = run_gpu_benchmark()
        print("\n| dtype | variant | ms | x clone |\n|---|---|---:|---:|")
        for r in report["gpu"]:
            print(f"| {r['dtype']} | {r['variant']} | {r['ms']:.3f} | {r['x_clone']:.2f} |")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "benchmark.json"), "w") as handle:
        json.dump(report, handle, indent=1)
    if args.plot and "collate" in report:
        plot_collate(report["collate"], os.path.join(args.out, "benchmark.png"))
    print(f"\nwrote {os.path.join(args.out, 'benchmark.json')}")
    return 0
