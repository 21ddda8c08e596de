"""The benchmark's tables, machine record and bar chart."""

from __future__ import annotations

import os
import platform
import time
from typing import Any, Dict, List

import torch

__all__ = ["calltime_table", "collate_table", "machine_info", "plot_collate"]


def calltime_table(rows: List[Dict[str, Any]]) -> str:
    lines = ["| config | dataset | variant | ms per batch (p25-p75) | extra ms over default_collate |",
             "|---|---|---|---|---:|"]
    for r in rows:
        lines.append(f"| {r['config']} | {r['dataset']} | {r['variant']} | {r['ms']:.2f} "
                     f"({r['ms_p25']:.2f}-{r['ms_p75']:.2f}) | {r['extra_ms']:+.2f} |")
    return "\n".join(lines)


def machine_info() -> Dict[str, Any]:
    return {
        "python": platform.python_version(), "torch": torch.__version__,
        "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def collate_table(rows: List[Dict[str, Any]]) -> str:
    lines = [
        "| config | dataset | workers | variant | images/s | x default_collate (min-max) |",
        "|---|---|---|---|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r['dataset']} | {r['num_workers']} | {r['variant']} | "
            f"{r['images_per_s']:.0f} | {r['ratio']:.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) |"
        )
    return "\n".join(lines)


def plot_collate(rows: List[Dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({(r["config"], r["dataset"], r["num_workers"]) for r in rows})
    fig, axes = plt.subplots(len(groups), 1, figsize=(9, 2.2 * len(groups)), squeeze=False)
    for ax, group in zip(axes[:, 0], groups):
        sel = [r for r in rows if (r["config"], r["dataset"], r["num_workers"]) == group]
        ax.barh([r["variant"] for r in sel], [r["ratio"] for r in sel],
                xerr=[[r["ratio"] - r["ratio_min"] for r in sel], [r["ratio_max"] - r["ratio"] for r in sel]])
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_title(f"{group[0]}, {group[1]}, num_workers={group[2]}", fontsize=9)
        ax.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel("throughput relative to default_collate")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
