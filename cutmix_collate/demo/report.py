"""What the demo prints and records: the per-epoch rows, the summary table and its verdict."""

from __future__ import annotations

import math
import os
import platform
from typing import Any, Dict, List

import torch

from .. import __version__
from .corruptions import OCCLUSION_AREA

__all__ = ["RUNS", "HEADER", "TABLE", "format_row", "stats", "summarise", "format_summary", "machine_info"]

RUNS = ("baseline", "cutmix")
HEADER = (f"{'run':>8} {'seed':>4} {'epoch':>5} {'train loss':>10} {'train acc':>9} {'train F1':>8} "
           f"{'test loss':>9} {'test acc':>8} {'test F1':>7} {'ECE':>6} {'time':>6}")

#: The summary's rows: key of the final scores, label. The first three are the accuracies the
#: closing sentence compares.
TABLE = (
    ("test_accuracy", "test accuracy, clean"),
    ("occluded_accuracy", "test accuracy, occluded"),
    ("pasted_accuracy", "test accuracy, pasted"),
    ("test_ece", "calibration error (ECE)"),
    ("test_confidence", "mean confidence, clean"),
    ("test_f1", "test F1 (macro), clean"),
    ("test_loss", "test loss, clean"),
    ("train_accuracy", "train accuracy (weighted)"),
    ("train_loss", "train loss"),
    ("run_seconds", "time per run (s)"),
)
ACCURACIES = (("test_accuracy", "clean"), ("occluded_accuracy", "occluded"), ("pasted_accuracy", "pasted"))


def format_row(run: str, seed: int, row: Dict[str, float]) -> str:
    return (f"{run:>8} {seed:>4d} {row['epoch']:>5d} {row['train_loss']:>10.4f} {row['train_accuracy']:>9.4f} "
            f"{row['train_f1']:>8.4f} {row['test_loss']:>9.4f} {row['test_accuracy']:>8.4f} "
            f"{row['test_f1']:>7.4f} {row['test_ece']:>6.4f} {row['seconds']:>5.1f}s")


def stats(values: List[float]) -> Dict[str, Any]:
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return {"mean": mean, "std": std, "min": min(values), "max": max(values), "values": values}


def summarise(results: Dict[str, List[Dict[str, Any]]], n_test: int) -> Dict[str, Any]:
    """Mean and spread over the seeds of every final score, and a verdict that says where each run is ahead."""
    n_seeds = len(results["baseline"])
    scores = {key: {run: stats([seed["final"][key] for seed in results[run]]) for run in RUNS}
              for key, _ in TABLE}
    ahead, clauses = {}, []
    for key, name in ACCURACIES:
        base, cut = scores[key]["baseline"], scores[key]["cutmix"]
        delta = cut["mean"] - base["mean"]
        images = abs(delta) * n_test
        if round(images, 1 if n_seeds > 1 else 0) == 0:
            ahead[key] = "tie"
            clauses.append(f"on {name} images the two runs tie")
            continue
        ahead[key] = "cutmix" if delta > 0 else "baseline"
        clause = (f"on {name} images {'CutMix' if delta > 0 else 'the baseline'} is ahead by "
                  f"{abs(delta) * 100:.2f} points ({images:.{1 if n_seeds > 1 else 0}f} of {n_test} test images")
        if n_seeds > 1 and abs(delta) <= max(base["std"], cut["std"]):
            clause += ", within the spread across seeds"
        elif n_seeds == 1 and images <= max(3, round(0.01 * n_test)):
            clause += ", too few to call from one run: try --seeds 0 1 2"
        clauses.append(clause + ")")
    of_seeds = f" (mean of {n_seeds} seeds)" if n_seeds > 1 else ""
    verdict = f"After {results['baseline'][0]['final']['epoch']} epochs{of_seeds}: " + "; ".join(clauses) + "."
    ece = {run: scores["test_ece"][run]["mean"] for run in RUNS}
    parts = []
    for run in RUNS:
        confidence, accuracy = scores["test_confidence"][run]["mean"], scores["test_accuracy"][run]["mean"]
        parts.append(f"{run} {ece[run]:.3f} ({'under' if confidence < accuracy else 'over'}-confident: mean "
                     f"confidence {confidence:.3f} at accuracy {accuracy:.3f})")
    closer = "the two runs are equally calibrated (to 3 decimals)"
    if round(ece["baseline"], 3) != round(ece["cutmix"], 3):
        closer = f"the {min(RUNS, key=ece.get)} run's confidence matches its accuracy more closely"
    verdict += (" Calibration error on clean images (ECE, 15 bins; lower is better): " + ", ".join(parts)
                + f"; {closer}.")
    return {"test_images": n_test, "seeds": [seed["seed"] for seed in results["baseline"]],
            "scores": scores, "ahead": ahead, "verdict": verdict}


def format_summary(summary: Dict[str, Any], epochs: int) -> str:
    seeds = summary["seeds"]
    spread = len(seeds) > 1
    width = 17 if spread else 10
    lines = [
        f"Final summary (held-out split: {summary['test_images']} images, last of {epochs} epochs; "
        + (f"seeds {' '.join(map(str, seeds))}: mean ± std)" if spread else f"seed {seeds[0]})"),
        f"{'':<26} {'baseline':>{width}} {'cutmix':>{width}}",
    ]
    for key, name in TABLE:
        cells = []
        for run in RUNS:
            cell = summary["scores"][key][run]
            digits = 1 if key == "run_seconds" else 4
            cells.append(f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}" if spread
                         else f"{cell['mean']:.{digits}f}")
        lines.append(f"{name:<26} " + " ".join(f"{cell:>{width}}" for cell in cells))
    lines.append(f"occluded: a box of {OCCLUSION_AREA:.0%} of each image set to the mean; pasted: the same box "
                 "from a test image of another class")
    lines.append(summary["verdict"])
    return "\n".join(lines)


def machine_info(world: int) -> Dict[str, Any]:
    info: Dict[str, Any] = {
        "platform": platform.platform(), "python": platform.python_version(),
        "torch": torch.__version__, "cutmix_collate": __version__,
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "processes": world,
    }
    try:
        import torchvision
        info["torchvision"] = torchvision.__version__
    except ImportError:  # pragma: no cover
        info["torchvision"] = None
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


