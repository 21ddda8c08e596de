"""What the demo prints and records: the per-epoch rows, the summary table and its verdict."""

from __future__ import annotations

import math
import os
import platform
from typing import Any, Dict, List, Optional, Tuple

import torch

from .. import __version__
from .corruptions import SEVERITY_WORDS

__all__ = ["RUNS", "HEADER", "TABLE", "LEGEND", "format_row", "stats", "summarise", "format_summary",
           "machine_info"]

RUNS = ("baseline", "cutmix")
HEADER = (f"{'run':>8} {'seed':>4} {'epoch':>5} {'train loss':>10} {'train acc':>9} {'train F1':>8} "
           f"{'test loss':>9} {'test acc':>8} {'test F1':>7} {'ECE':>6} {'time':>6}")

#: The summary's rows (those present): key of the final scores, label.
TABLE = (
    ("test_accuracy", "test accuracy, clean"),
    ("noise_accuracy", "accuracy, noise"),
    ("blur_accuracy", "accuracy, blur"),
    ("contrast_accuracy", "accuracy, contrast"),
    ("occluded_accuracy", "accuracy, occluded"),
    ("pasted_accuracy", "accuracy, pasted"),
    ("corruption_accuracy", "accuracy, all corruptions"),
    ("ood_auroc_inverted", "OOD AUROC, inverted"),
    ("ood_auroc_noise", "OOD AUROC, noise"),
    ("ood_auroc_held_out", "OOD AUROC, held-out classes"),
    ("test_ece", "calibration error (ECE)"),
    ("test_confidence", "mean confidence, clean"),
    ("test_f1", "test F1 (macro), clean"),
    ("test_loss", "test loss, clean"),
    ("train_accuracy", "train accuracy (weighted)"),
    ("train_loss", "train loss"),
    ("run_seconds", "time per run (s)"),
)
#: How the verdict names the images of each corruption and each OOD set.
CORRUPTED = {"noise": "noisy", "blur": "blurred", "contrast": "low-contrast", "occluded": "occluded",
             "pasted": "pasted"}
OOD_SETS = {"inverted": "inverted images", "noise": "noise images", "held_out": "images of held-out classes"}
LEGEND = ("corruptions (3 severities each, accuracy = their mean): "
          + "; ".join(SEVERITY_WORDS.values())
          + ". OOD AUROC: the test images' maximum softmax probability against "
          "inverted test images, noise images with the test images' mean and std, and the held-out classes "
          "(--ood-classes); 0.5 = cannot tell them apart")


def format_row(run: str, seed: int, row: Dict[str, float]) -> str:
    return (f"{run:>8} {seed:>4d} {row['epoch']:>5d} {row['train_loss']:>10.4f} {row['train_accuracy']:>9.4f} "
            f"{row['train_f1']:>8.4f} {row['test_loss']:>9.4f} {row['test_accuracy']:>8.4f} "
            f"{row['test_f1']:>7.4f} {row['test_ece']:>6.4f} {row['seconds']:>5.1f}s")


def stats(values: List[float]) -> Dict[str, Any]:
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return {"mean": mean, "std": std, "min": min(values), "max": max(values), "values": values}


def _accuracy_clause(name: str, base: Dict[str, Any], cut: Dict[str, Any], n_test: int, n_seeds: int,
                     ) -> Tuple[str, str]:
    """Who is ahead on one accuracy, and the clause that says so: by how many points and test images."""
    delta = cut["mean"] - base["mean"]
    images = abs(delta) * n_test
    if round(images, 1 if n_seeds > 1 else 0) == 0:
        return "tie", f"on {name} images the two runs tie"
    clause = (f"on {name} images {'CutMix' if delta > 0 else 'the baseline'} is ahead by "
              f"{abs(delta) * 100:.2f} points ({images:.{1 if n_seeds > 1 else 0}f} of {n_test} test images")
    if n_seeds > 1 and abs(delta) <= max(base["std"], cut["std"]):
        clause += ", within the spread across seeds"
    elif n_seeds == 1 and images <= max(3, round(0.01 * n_test)):
        clause += ", too few to call from one run: try --seeds 0 1 2"
    return ("cutmix" if delta > 0 else "baseline"), clause + ")"


def _auroc_clause(name: str, base: Dict[str, Any], cut: Dict[str, Any], n_seeds: int) -> Tuple[str, str]:
    """Who is ahead on one OOD AUROC, and the clause that says so (to 3 decimals)."""
    delta = cut["mean"] - base["mean"]
    if round(delta, 3) == 0:
        return "tie", f"against {name} the two runs tie ({base['mean']:.3f})"
    clause = (f"against {name} {'CutMix' if delta > 0 else 'the baseline'} is ahead by {abs(delta):.3f} "
              f"(baseline {base['mean']:.3f}, CutMix {cut['mean']:.3f}")
    if n_seeds > 1 and abs(delta) <= max(base["std"], cut["std"]):
        clause += ", within the spread across seeds"
    return ("cutmix" if delta > 0 else "baseline"), clause + ")"


def _calibration(scores: Dict[str, Dict[str, Dict[str, Any]]]) -> str:
    ece = {run: scores["test_ece"][run]["mean"] for run in RUNS}
    parts = []
    for run in RUNS:
        confidence, accuracy = scores["test_confidence"][run]["mean"], scores["test_accuracy"][run]["mean"]
        parts.append(f"{run} {ece[run]:.3f} ({'under' if confidence < accuracy else 'over'}-confident: mean "
                     f"confidence {confidence:.3f} at accuracy {accuracy:.3f})")
    closer = "the two runs are equally calibrated (to 3 decimals)"
    if round(ece["baseline"], 3) != round(ece["cutmix"], 3):
        closer = f"the {min(RUNS, key=lambda run: ece[run])} run's confidence matches its accuracy more closely"
    return "Calibration error on clean images (ECE, 15 bins; lower is better): " + ", ".join(parts) + f"; {closer}."


def summarise(results: Dict[str, List[Dict[str, Any]]], n_test: int,
              ood_sizes: Optional[Dict[str, int]] = None) -> Dict[str, Any]:
    """Mean and spread over the seeds of every final score, and a verdict that says where each run is ahead.

    The verdict covers the CutMix paper's three claims: clean accuracy, accuracy under each
    corruption (mean of its severities) and OOD detection (the AUROC of each set in ``ood_sizes``,
    name -> number of images), then the calibration error.
    """
    n_seeds = len(results["baseline"])
    scores = {key: {run: stats([seed["final"][key] for seed in results[run]]) for run in RUNS}
              for key in results["baseline"][0]["final"]}
    ahead: Dict[str, str] = {}

    def accuracy(key: str, name: str) -> str:
        ahead[key], clause = _accuracy_clause(name, scores[key]["baseline"], scores[key]["cutmix"], n_test, n_seeds)
        return clause

    of_seeds = f" (mean of {n_seeds} seeds)" if n_seeds > 1 else ""
    verdict = (f"After {results['baseline'][0]['final']['epoch']} epochs{of_seeds}: accuracy: "
               + accuracy("test_accuracy", "clean") + ".")
    corrupted = [name for name in CORRUPTED if f"{name}_accuracy" in scores]
    if corrupted:
        clauses = [accuracy(f"{name}_accuracy", CORRUPTED[name]) for name in corrupted]
        clauses.append(accuracy("corruption_accuracy", "all corrupted").replace(
            "on all corrupted images", f"over all {3 * len(corrupted)} corrupted copies", 1))
        verdict += " Corruptions (mean accuracy over 3 severities): " + "; ".join(clauses) + "."
    ood_sizes = ood_sizes or {}
    if ood_sizes:
        clauses = []
        for name, size in ood_sizes.items():
            key = f"ood_auroc_{name}"
            ahead[key], clause = _auroc_clause(f"{size} {OOD_SETS[name]}", scores[key]["baseline"],
                                               scores[key]["cutmix"], n_seeds)
            clauses.append(clause)
        verdict += (f" Out-of-distribution detection (AUROC of the maximum softmax probability of the {n_test} "
                    "test images against each set; higher is better): " + "; ".join(clauses) + ".")
    verdict += " " + _calibration(scores)
    return {"test_images": n_test, "ood_images": ood_sizes, "seeds": [seed["seed"] for seed in results["baseline"]],
            "scores": scores, "ahead": ahead, "verdict": verdict}


def _severity_lines(summary: Dict[str, Any]) -> List[str]:
    """Mean accuracy of both runs at each severity of each corruption."""
    scores = summary["scores"]
    names = [name for name in CORRUPTED if f"{name}_1_accuracy" in scores]
    if not names:
        return []
    lines = [f"{'accuracy by severity 1/2/3':<26} {'baseline':>20} {'cutmix':>20}"]
    for name in names:
        cells = ["/".join(f"{scores[f'{name}_{s}_accuracy'][run]['mean']:.3f}" for s in (1, 2, 3)) for run in RUNS]
        lines.append(f"{name:<26} " + " ".join(f"{cell:>20}" for cell in cells))
    return lines


def format_summary(summary: Dict[str, Any], epochs: int) -> str:
    seeds = summary["seeds"]
    spread = len(seeds) > 1
    width = 17 if spread else 10
    lines = [
        f"Final summary (held-out split: {summary['test_images']} images, last of {epochs} epochs; "
        + (f"seeds {' '.join(map(str, seeds))}: mean ± std)" if spread else f"seed {seeds[0]})"),
        f"{'':<27} {'baseline':>{width}} {'cutmix':>{width}}",
    ]
    for key, name in TABLE:
        if key not in summary["scores"]:
            continue
        cells = []
        for run in RUNS:
            cell = summary["scores"][key][run]
            digits = 1 if key == "run_seconds" else 4
            cells.append(f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}" if spread
                         else f"{cell['mean']:.{digits}f}")
        lines.append(f"{name:<27} " + " ".join(f"{cell:>{width}}" for cell in cells))
    lines += _severity_lines(summary)
    lines.append(LEGEND)
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


