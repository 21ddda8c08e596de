"""The demo's pictures: a mixed batch, the training curves, the robustness bars and the scored test images."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any, Dict, List

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset, default_collate

from .. import CutMixCollator
from .corruptions import SEVERITY_WORDS
from .data import DemoData, dataset_size
from .report import RUNS

__all__ = ["plot_corruptions", "plot_curves", "plot_robustness", "plot_occlusions", "save_mixed_batch"]


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


_COLOURS = {"baseline": "tab:blue", "cutmix": "tab:orange"}


def plot_curves(results: Dict[str, List[Dict[str, Any]]], path: str) -> None:
    from matplotlib.ticker import MaxNLocator

    figure = _figure(13, 3.8)
    axes = figure.subplots(1, 3)
    for ax, (metric, title) in zip(axes, (("loss", "loss"), ("accuracy", "accuracy"), ("f1", "F1 (macro)"))):
        for run in RUNS:
            seeds = [seed["epochs"] for seed in results[run]]
            epochs = [row["epoch"] for row in seeds[0]]
            for split, style in (("train", "--"), ("test", "-o")):
                key = f"{split}_{metric}"
                mean = [sum(rows[i][key] for rows in seeds) / len(seeds) for i in range(len(epochs))]
                ax.plot(epochs, mean, style, markersize=3, color=_COLOURS[run],
                        label=f"{run} {split}" + (" (mixed)" if split == "train" and run == "cutmix" else ""))
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=8)
    of_seeds = f", mean of {len(results['baseline'])} seeds" if len(results["baseline"]) > 1 else ""
    figure.suptitle("baseline vs CutMix: train (dashed, on the batches trained on) and held-out test "
                    f"(solid){of_seeds}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path)


_CORRUPTION_TITLES = {name: words.split(", ", 1)[0] + "\n" + "\n".join(textwrap.wrap(f"({words.split(', ', 1)[1]})", 26))
                      for name, words in SEVERITY_WORDS.items()}
_OOD_LABELS = {"inverted": "inverted\nimages", "noise": "noise\nimages", "held_out": "held-out\nclasses"}


def _whiskers(stats: List[Dict[str, Any]], several: bool) -> Any:
    """Min-max whiskers around the means (>= 0 also when rounding), or None for one seed."""
    if not several:
        return None
    return [[max(0.0, s["mean"] - s["min"]) for s in stats], [max(0.0, s["max"] - s["mean"]) for s in stats]]


def _bars(ax: Any, summary: Dict[str, Any], keys: List[str], labels: List[str]) -> None:
    several = len(summary["seeds"]) > 1
    for i, run in enumerate(RUNS):
        stats = [summary["scores"][key][run] for key in keys]
        bars = ax.bar([g + (i - 0.5) * 0.38 for g in range(len(keys))], [s["mean"] for s in stats], 0.38,
                      color=_COLOURS[run], label=run, yerr=_whiskers(stats, several), capsize=3)
        ax.bar_label(bars, fmt="%.3f", fontsize=8, padding=2)
    ax.set_xticks(range(len(keys)), labels, fontsize=9)
    ax.grid(alpha=0.3, axis="y")


def plot_robustness(summary: Dict[str, Any], path: str) -> None:
    """Accuracy against severity for each corruption, the OOD AUROC of each set and the calibration error."""
    scores, several = summary["scores"], len(summary["seeds"]) > 1
    corruptions = [name for name in _CORRUPTION_TITLES if f"{name}_1_accuracy" in scores]
    figure = _figure(3 * max(4, len(corruptions)), 7.5)
    grid = figure.add_gridspec(2, max(4, len(corruptions)))
    for column, name in enumerate(corruptions):
        ax = figure.add_subplot(grid[0, column])
        for run in RUNS:
            stats = [scores[key][run] for key in ["test_accuracy"] + [f"{name}_{s}_accuracy" for s in (1, 2, 3)]]
            ax.errorbar(range(4), [s["mean"] for s in stats], yerr=_whiskers(stats, several), marker="o",
                        markersize=4, capsize=3, color=_COLOURS[run], label=run)
        ax.set_title(_CORRUPTION_TITLES[name], fontsize=9)
        ax.set_xticks(range(4), ["clean", "1", "2", "3"])
        ax.set_xlabel("severity", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3)
    if corruptions:
        figure.axes[0].set_ylabel("test accuracy")
        figure.axes[0].legend(fontsize=8, loc="lower left")
    ood = [name for name in _OOD_LABELS if f"ood_auroc_{name}" in scores]
    split = max(2, grid.ncols - 2)
    if ood:
        ax = figure.add_subplot(grid[1, :split])
        _bars(ax, summary, [f"ood_auroc_{name}" for name in ood], [_OOD_LABELS[name] for name in ood])
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_ylim(0, 1.25)
        ax.set_ylabel("OOD AUROC")
        ax.legend(fontsize=8, loc="upper left", ncol=2)
    ax = figure.add_subplot(grid[1, split:])
    _bars(ax, summary, ["test_ece"], ["clean"])
    ax.set_ylabel("calibration error (ECE, 15 bins)")
    ax.set_ylim(0, max(0.05, 1.3 * max(scores["test_ece"][run]["max"] for run in RUNS)))
    seeds = " ".join(map(str, summary["seeds"]))
    which = f"mean of seeds {seeds}, whiskers: min-max" if several else f"seed {seeds}"
    figure.suptitle(f"Held-out split ({summary['test_images']} images; {which}). Top: accuracy under each corruption, "
                    "higher is better.\nBottom: telling the test images from out-of-distribution ones by the maximum "
                    "softmax probability (AUROC, higher is better, 0.5 = chance) and calibration error (lower is "
                    "better)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path)


def plot_corruptions(data: DemoData, corrupted: Dict[str, List[Tensor]], ood: Dict[str, Tensor], path: str,
                     index: int = 0) -> None:
    """One test image under every corruption and severity, and the first images of each OOD set."""
    low, high = data.value_range
    rows = list(corrupted) + (["OOD"] if ood else [])
    figure = _figure(1.6 * 4 + 0.8, 1.6 * len(rows) + 0.6)
    axes = figure.subplots(len(rows), 4, squeeze=False)
    for row, name in enumerate(rows):
        if name == "OOD":
            per_set = 2 if len(ood) <= 2 else 1  # with held-out classes: one image of each set
            shown = [(images[i], f"{_OOD_LABELS[set_name].replace(chr(10), ' ')} #{i}")
                     for set_name, images in ood.items() for i in range(per_set)][:4]
        else:
            shown = [(data.test_images[index], "clean")]
            shown += [(images[index], f"{name} {s}") for s, images in enumerate(corrupted[name], 1)]
        for column, ax in enumerate(axes[row]):
            ax.set_xticks([])
            ax.set_yticks([])
            if column >= len(shown):
                ax.axis("off")
                continue
            image, title = shown[column]
            pixels = ((image - low) / (high - low)).clamp(0, 1).permute(1, 2, 0).squeeze(-1)
            ax.imshow(pixels.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(title, fontsize=8)
    figure.suptitle(f"Test image #{index} (label {data.classes[int(data.test_labels[index])]}) under each corruption,\n"
                    "severities 1-3; last row: out-of-distribution images", fontsize=9)
    figure.tight_layout()
    figure.savefig(path)


def plot_occlusions(data: DemoData, copies: Dict[str, Tensor], boxes: Tensor, partners: Tensor,
                    models: Dict[str, nn.Module], device: torch.device, path: str, n: int = 8) -> Dict[str, Any]:
    """The first ``n`` test images, clean, occluded and pasted, with the label and both runs' predictions."""
    from matplotlib.patches import Rectangle

    n = min(n, len(data.test_labels))
    shown = {"clean": data.test_images[:n], **{name: images[:n] for name, images in copies.items()}}
    low, high = float(shown["clean"].min()), float(shown["clean"].max())
    predictions = {}
    with torch.no_grad():
        for name, images in shown.items():
            predictions[name] = {run: model.eval()(images.to(device)).argmax(1).tolist()
                                 for run, model in models.items()}
    figure = _figure(1.45 * n, 6)
    axes = figure.subplots(3, n, squeeze=False)
    for row, (name, images) in enumerate(shown.items()):
        axes[row][0].set_ylabel(name, fontsize=11)
        for i in range(n):
            ax = axes[row][i]
            pixels = ((images[i] - low) / (high - low)).clamp(0, 1).permute(1, 2, 0).squeeze(-1)
            ax.imshow(pixels.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if name != "clean":
                y0, y1, x0, x1 = boxes[i].tolist()
                ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor="red"))
            title = f"label {data.classes[int(data.test_labels[i])]}"
            if name == "pasted":
                title += f"\nbox from a {data.classes[int(data.test_labels[partners[i]])]}"
            ax.set_title(title, fontsize=8)
            ax.set_xlabel("  ".join(f"{run[0].upper()}:{data.classes[predictions[name][run][i]]}" for run in RUNS),
                          fontsize=8)
    figure.suptitle("Test images as scored: clean, occluded (red box set to the mean) and pasted (red box from an "
                    "image of another class). Below each: the prediction of B = baseline, C = CutMix", fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
    return {"test_indices": list(range(n)), "boxes_y0_y1_x0_x1": boxes[:n].tolist(),
            "partners": partners[:n].tolist(), "predictions": predictions}


def save_mixed_batch(data: DemoData, train_set: Dataset, args: argparse.Namespace, seed: int,
                     path: str) -> Dict[str, Any]:
    """Mix 8 training images with the collator (``return_boxes=True``) and draw them.

    The sources and partners come from the dataset itself (``index`` gives the partners), so the
    picture shows exactly what the collator produced. ``prob`` is 1 here so that the picture
    always shows a mixed batch.
    """
    from .. import save_mixed_grid

    n = min(8, dataset_size(train_set))
    chosen = torch.randperm(dataset_size(train_set), generator=torch.Generator().manual_seed(seed))[:n].tolist()
    samples = [train_set[i] for i in chosen]
    collate = CutMixCollator(alpha=args.alpha, prob=1.0, mode=args.mode, return_boxes=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        images, target, boxes = collate(samples)
    sources = default_collate(samples)[0]
    save_mixed_grid(images, target, boxes, path, sources=sources, nrow=8, class_names=data.classes)
    lam = target.lam.tolist() if isinstance(target.lam, Tensor) else [target.lam] * n
    return {"train_indices": chosen, "boxes_y0_y1_x0_x1": boxes.boxes.tolist(),
            "partners": boxes.index.tolist(), "lam": lam}
