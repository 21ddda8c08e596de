"""CutMix on the accelerator for PyTorch Lightning: :class:`CutMixCallback`.

The callback mixes each training batch after Lightning has moved it to the device and before
``training_step`` sees it, with :func:`~cutmix_collate.cutmix_batch`. The labels become a
:class:`~cutmix_collate.MixedTarget`, so a :class:`~cutmix_collate.CutMixCriterion` in
``training_step`` needs no other change. Validation, test and predict batches are never mixed.

Mixing in the loader (:class:`~cutmix_collate.CutMixCollator`) stays the default: it runs in the
DataLoader's CPU workers, in parallel with the model. Mix on the accelerator when the loader is
the bottleneck (few CPU cores, very large batches).

Needs ``lightning``: ``pip install "cutmix_collate[lightning]"`` or, from a clone,
``pip install -e ".[lightning]"``; ``import cutmix_collate`` does not import it.

Example::

    from cutmix_collate.lightning import CutMixCallback

    trainer = L.Trainer(callbacks=[CutMixCallback(alpha=1.0, mode="elem", log_every_n_steps=500)])
"""

from __future__ import annotations

import os
import warnings
from collections.abc import MutableMapping, MutableSequence
from typing import Any, Optional, Tuple, Union, cast

from torch import Tensor

try:
    import lightning.pytorch as pl
except ImportError as error:  # pragma: no cover - exercised in a subprocess without lightning
    raise ImportError(
        "cutmix_collate.lightning needs PyTorch Lightning: pip install \"cutmix_collate[lightning]\" or, "
        "from a clone, pip install -e \".[lightning]\""
    ) from error
from typing_extensions import override  # a dependency of lightning

from ._checks import check_positive_int, describe
from .functional import MixBoxes, MixedTarget, MixSpec, Mode, cutmix_batch
from .viz import mixed_grid, save_mixed_grid

__all__ = ["CutMixCallback"]

Key = Union[int, str]

_MIXED_TWICE = ("the batch's labels are already a MixedTarget: mix in the loader (CutMixCollator) or on the "
                "device (CutMixCallback), not both")


class CutMixCallback(pl.Callback):
    """Mix every training batch on its device with :func:`~cutmix_collate.cutmix_batch`.

    The batch is a list ``[images, labels, ...]`` (what ``default_collate`` returns; the
    positions are ``image_key`` and ``label_key``, 0 and 1 by default) or a dict (then
    ``image_key`` and ``label_key`` are required). Its images (``(B, C, H, W)`` or
    ``(B, H, W)``; with ``dims=1`` signals ``(B, C, T)`` or spectrograms ``(B, C, F, T)``; with
    ``dims=3`` volumes ``(B, C, D, H, W)``) are replaced by the mixed images and its labels
    ``(B,)`` or ``(B, K)`` by ``MixedTarget(y_a, y_b, lam)``; other items are left as they are.
    The batch list or dict is changed in place (that is how the batch reaches ``training_step``);
    the image and label tensors are not. Draws come from torch's default generator on the batch's device, so
    ``seed_everything`` makes a run reproducible.

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)`` before the box is clipped; a finite number > 0.
        prob: Probability of mixing each batch, in ``[0, 1]``.
        mode: ``"batch"`` (one box per batch) or ``"elem"`` (one box per sample; no host
            synchronisation on an accelerator), as in :func:`~cutmix_collate.cutmix_batch`.
        dims: 1, 2 or 3: the number of trailing axes the box spans, passed to
            :func:`~cutmix_collate.cutmix_batch` (1: a time segment, 3: a box in a volume).
        off_epoch: From this epoch on (an int >= 0), batches pass through unmixed, with
            ``lam = 1`` and ``y_b == y_a``, as with ``CutMixCollator(off_epoch=...)``.
        image_key: Where the images are: a list position (default 0) or a dict key.
        label_key: Where the labels are: a list position (default 1) or a dict key.
        log_every_n_steps: Every this many optimizer steps (from step 0), draw the mixed batch
            with :func:`~cutmix_collate.mixed_grid` (sources, partners and mixed images, the
            boxes outlined) on the global-zero rank. Loggers with ``experiment.add_image``
            (TensorBoard) get it under the tag ``"cutmix/batch"``; otherwise it is saved as
            ``<log_dir>/cutmix/step_<step>.png`` of the first logger. No logger: no picture.
            Needs torchvision. ``None`` draws nothing. A picture never stops training: if one
            cannot be drawn or logged, a warning says why and no more pictures are drawn.

    Raises:
        TypeError, ValueError: A bad argument here; in training, a batch that is not a list or a
            dict (a tuple cannot be changed), missing keys, labels that are already mixed.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        prob: float = 1.0,
        mode: Mode = "batch",
        dims: int = 2,
        off_epoch: Optional[int] = None,
        image_key: Optional[Key] = None,
        label_key: Optional[Key] = None,
        log_every_n_steps: Optional[int] = None,
    ) -> None:
        super().__init__()
        spec = MixSpec(alpha=alpha, prob=prob, mode=mode, dims=dims)  # checks them, one home for the checks
        self.alpha, self.prob, self.mode, self.dims = spec.alpha, spec.prob, spec.mode, spec.dims
        self.off_epoch = off_epoch if off_epoch is None else check_positive_int(off_epoch, "off_epoch", 0)
        self.image_key = _check_batch_key(image_key, "image_key")
        self.label_key = _check_batch_key(label_key, "label_key")
        if log_every_n_steps is not None:
            log_every_n_steps = check_positive_int(log_every_n_steps, "log_every_n_steps")
        self.log_every_n_steps = log_every_n_steps
        self._drawn_step: Optional[int] = None  # with gradient accumulation, steps repeat
        self._picture_failed = False

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Replace the batch's images and labels by their mixed versions (see the class)."""
        image_key, label_key = self._keys(batch)
        images, labels = batch[image_key], batch[label_key]
        if isinstance(labels, MixedTarget):
            raise TypeError(_MIXED_TWICE)
        on = self.off_epoch is None or trainer.current_epoch < self.off_epoch
        step = trainer.global_step
        draw = on and self.log_every_n_steps is not None and step % self.log_every_n_steps == 0
        draw = draw and trainer.is_global_zero and step != self._drawn_step and not self._picture_failed
        # Boxes only when drawn: MixBoxes lives on the CPU, a host sync on an accelerator.
        out, target, *boxes = cutmix_batch(images, labels, alpha=self.alpha, prob=self.prob if on else 0.0,
                                           mode=self.mode, dims=self.dims, return_boxes=draw)
        batch[image_key], batch[label_key] = out, target
        if draw:
            self._drawn_step = step
            try:
                _log_picture(trainer, out, target, boxes[0], images, step)
            except Exception as error:  # noqa: BLE001 - a picture must never end a training run
                self._picture_failed = True
                warnings.warn(f"CutMixCallback(log_every_n_steps={self.log_every_n_steps}) could not draw the batch "
                              f"of step {step} and draws no more pictures: {type(error).__name__}: {error}",
                              RuntimeWarning, stacklevel=2)

    def _keys(self, batch: Any) -> Tuple[Key, Key]:
        if isinstance(batch, MutableMapping):
            keys = (self.image_key, self.label_key)
            expected = f"a key of the dict batch, one of {list(batch)}"
            hint = "; a dict batch needs both keys, e.g. CutMixCallback(image_key='image', label_key='label')"
            valid = [key is not None and key in batch for key in keys]
        elif isinstance(batch, MutableSequence):
            keys = (
                0 if self.image_key is None else self.image_key,
                1 if self.label_key is None else self.label_key,
            )
            expected, hint = f"a position in the list batch of {len(batch)} items, 0 to {len(batch) - 1}", ""
            valid = [isinstance(key, int) and 0 <= key < len(batch) for key in keys]
        else:
            if isinstance(batch, tuple) and any(isinstance(item, MixedTarget) for item in batch):
                raise TypeError(_MIXED_TWICE)
            raise TypeError(
                "CutMixCallback replaces the images and labels inside the training batch, so the "
                "batch must be a list [images, labels, ...] (what default_collate returns) or a "
                f"dict; got {describe(batch)}: return a list instead of a tuple from your "
                "collate_fn (or on_after_batch_transfer)"
            )
        for key, name, ok in zip(keys, ("image_key", "label_key"), valid):
            if not ok:
                raise ValueError(f"{name} must be {expected}, got {key!r}{hint}")
        if keys[0] == keys[1]:
            raise ValueError(f"image_key and label_key must differ, got {keys[0]!r} for both")
        return cast(Tuple[Key, Key], keys)  # both checked above


def _check_batch_key(key: Any, name: str) -> Optional[Key]:
    if key is None or isinstance(key, str) or (isinstance(key, int) and not isinstance(key, bool)):
        return key
    raise TypeError(f"{name} must be a list position (int), a dict key (str) or None, got {describe(key)}")


def _log_picture(
    trainer: pl.Trainer, images: Tensor, target: MixedTarget, boxes: MixBoxes, sources: Tensor, step: int
) -> None:
    """Add the grid to every logger that takes images, else save it as a PNG; no logger: nothing."""
    if not trainer.loggers:
        return
    experiments = [getattr(logger, "experiment", None) for logger in trainer.loggers]
    takers: list = [experiment for experiment in experiments if callable(getattr(experiment, "add_image", None))]
    if takers:
        grid = mixed_grid(images, target, boxes, sources=sources)
        for experiment in takers:
            experiment.add_image("cutmix/batch", grid, global_step=step)
        return
    logger = trainer.loggers[0]
    folder = getattr(logger, "log_dir", None) or logger.save_dir or trainer.default_root_dir
    path = os.path.join(folder, "cutmix", f"step_{step:06d}.png")
    save_mixed_grid(images, target, boxes, path, sources=sources)
