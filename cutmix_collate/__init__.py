"""cutmix_collate: CutMix as a drop-in ``collate_fn``, loss wrapper and metrics for PyTorch."""

from .collator import CutMixCollator
from .functional import MixBoxes, MixedTarget, box_lambda, cutmix_batch, rand_box, sample_lambda

__version__ = "0.1.0"

__all__ = [
    "CutMixCollator",
    "MixBoxes",
    "MixedTarget",
    "box_lambda",
    "cutmix_batch",
    "rand_box",
    "sample_lambda",
]
