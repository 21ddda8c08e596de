"""cutmix_collate: CutMix as a drop-in ``collate_fn``, loss wrapper and metrics for PyTorch."""

from .collator import CutMixCollator
from .losses import CutMixCriterion, FocalLoss, focal_loss, soft_targets
from .functional import MixBoxes, MixedTarget, box_lambda, cutmix_batch, rand_box, sample_lambda

__version__ = "0.1.0"

__all__ = [
    "CutMixCollator",
    "CutMixCriterion",
    "FocalLoss",
    "MixBoxes",
    "MixedTarget",
    "box_lambda",
    "cutmix_batch",
    "focal_loss",
    "rand_box",
    "sample_lambda",
    "soft_targets",
]
