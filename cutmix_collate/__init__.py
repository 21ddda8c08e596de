"""cutmix_collate: CutMix as a drop-in ``collate_fn``, loss wrapper and metrics for PyTorch."""

from .collator import CutMixCollator, CutMixOrMixUpCollator, MixUpCollator
from .viz import mixed_grid, save_mixed_grid
from .metrics import MixedMetrics, mixed_accuracy, mixed_f1
from .losses import CutMixCriterion, FocalLoss, focal_loss, soft_targets
from .functional import (
    MixBoxes,
    MixParams,
    MixedTarget,
    box_lambda,
    cutmix_batch,
    draw_params,
    mixup_batch,
    rand_box,
    sample_lambda,
)

__version__ = "0.1.0"

__all__ = [
    "CutMixCollator",
    "CutMixCriterion",
    "CutMixOrMixUpCollator",
    "FocalLoss",
    "MixBoxes",
    "MixParams",
    "MixUpCollator",
    "MixedMetrics",
    "MixedTarget",
    "box_lambda",
    "cutmix_batch",
    "draw_params",
    "focal_loss",
    "mixed_accuracy",
    "mixed_f1",
    "mixed_grid",
    "mixup_batch",
    "rand_box",
    "sample_lambda",
    "save_mixed_grid",
    "soft_targets",
]
