"""CutMix as a drop-in ``collate_fn``, loss wrapper and metrics for PyTorch.

Three lines make a training loop a CutMix one::

    loader = DataLoader(dataset, batch_size=64, collate_fn=CutMixCollator(alpha=1.0))
    criterion = CutMixCriterion(nn.CrossEntropyLoss())   # takes (y_a, y_b, lam) and plain labels
    metrics = MixedMetrics(num_classes=10)               # update(logits, target), compute()

Each batch is ``images, MixedTarget(y_a, y_b, lam)``: ``y_a`` the batch's labels, ``y_b`` the
labels of the partner whose box was pasted in, ``lam`` the share of each image still its own.
``metrics.compute()`` returns ``"accuracy"`` (lam-weighted), ``"f1"`` (the F1 of the whole
epoch, equal to scikit-learn's), ``"f1_batch_mean"`` and ``"loss"``. The same criterion and
metrics take plain labels, so an evaluation loop needs nothing else.

Public API: :class:`CutMixCollator`, :class:`MixUpCollator`, :class:`CutMixOrMixUpCollator`
(in the DataLoader); :func:`cutmix_batch`, :func:`mixup_batch`, :func:`sample_lambda`,
:func:`rand_box`, :func:`box_lambda`, :class:`MixSpec`, :func:`draw_params`, :class:`MixParams`,
:func:`apply_params`, :func:`mix_labels`, :class:`MixedTarget`, :class:`MixBoxes` (on a batch tensor,
any device; ``draw_params`` is the one place where everything random about a batch is decided,
``apply_params`` applies it; ``dims=`` spans the box over 1, 2 or 3 trailing axes); :class:`CutMixCriterion`, :class:`FocalLoss`, :func:`focal_loss`,
:func:`soft_targets` (losses); :func:`mixed_accuracy`, :func:`mixed_f1`, :class:`MixedMetrics`
(metrics); :func:`mixed_grid`, :func:`save_mixed_grid` (pictures, need torchvision:
``pip install "cutmix_collate[vision]"`` or, from a clone, ``pip install -e ".[vision]"``).
``cutmix_collate.lightning.CutMixCallback`` mixes on the accelerator in a Lightning ``Trainer``
(``pip install "cutmix_collate[lightning]"``). Runtime dependencies: torch and numpy. ``python -m cutmix_collate.demo`` runs the demo.
"""

from .collator import CutMixCollator, CutMixOrMixUpCollator, MixUpCollator
from .viz import mixed_grid, save_mixed_grid
from .metrics import MixedMetrics, mixed_accuracy, mixed_f1
from .losses import CutMixCriterion, FocalLoss, focal_loss, soft_targets
from .functional import (MixBoxes, MixedTarget, MixParams, MixSpec, apply_params, box_lambda, cutmix_batch,
                         draw_params, mix_labels, mixup_batch, rand_box, sample_lambda)

__version__ = "0.2.0.dev0"

__all__ = ["CutMixCollator", "CutMixCriterion", "CutMixOrMixUpCollator", "FocalLoss", "MixBoxes", "MixParams",
           "MixSpec", "MixUpCollator", "MixedMetrics", "MixedTarget", "apply_params", "box_lambda", "cutmix_batch",
           "draw_params", "focal_loss", "mix_labels", "mixed_accuracy", "mixed_f1", "mixed_grid", "mixup_batch",
           "rand_box", "sample_lambda", "save_mixed_grid", "soft_targets"]
