"""Train with 🤗 transformers' ``Trainer``: :class:`CutMixTrainer` (extra ``hf``).

``pip install "cutmix_collate[hf]"``. ``import cutmix_collate`` never imports transformers; only
this module does. The trainer is ``transformers.Trainer`` subclassed at its documented hooks:
``compute_loss`` (labels go to the criterion, never to the model's own loss) and the evaluation
and test dataloader getters (their batches go through the collator's unmixed copy).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
from collections.abc import Mapping
from typing import Any, Callable, Dict, Iterator, Optional, Union

from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

try:
    from transformers import Trainer, TrainerCallback
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError('cutmix_collate.hf needs transformers: pip install "cutmix_collate[hf]"') from err

from ._checks import describe
from .collator import CutMixCollator, CutMixOrMixUpCollator, MixUpCollator
from .losses import CutMixCriterion

__all__ = ["CutMixTrainer"]

_COLLATORS = (CutMixCollator, MixUpCollator, CutMixOrMixUpCollator)


def _dict_batch(batch: Any) -> Mapping:
    if not isinstance(batch, Mapping):
        raise TypeError(f"CutMixTrainer needs dict samples (the model is called as model(**batch)), got a "
                        f"{type(batch).__name__} batch; give the samples an image_key and a label_key")
    return batch


class _Unmixed:
    """The collator's unmixed form: same keys and conversions, the labels as a plain tensor."""

    def __init__(self, collator: Any) -> None:
        self.collator = copy.copy(collator)  # its own switch: training can never turn it on
        self.collator.enabled = False

    def __call__(self, samples: Any) -> Any:
        batch = _dict_batch(self.collator(samples))
        batch[self.collator.label_key] = batch[self.collator.label_key].y_a  # type: ignore[index]
        return batch


class _SetEpoch(TrainerCallback):
    """Calls the collator's ``set_epoch`` (``off_epoch``, ``prob_schedule``) as each epoch begins."""

    def __init__(self, collator: Any) -> None:
        self.collator = collator

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.collator.set_epoch(int(state.epoch or 0))  # state.epoch is e.0 when epoch e begins


class CutMixTrainer(Trainer):
    """A ``transformers.Trainer`` that trains on mixed batches and evaluates on plain ones.

    Takes every argument of ``transformers.Trainer`` (``model``, ``args``, ``train_dataset``,
    ``eval_dataset``, ``compute_metrics``, callbacks, ...) plus ``criterion``. ``data_collator``
    must be a :class:`~cutmix_collate.CutMixCollator`, :class:`~cutmix_collate.MixUpCollator` or
    :class:`~cutmix_collate.CutMixOrMixUpCollator` for dict samples, with ``image_key`` an input
    of ``model.forward`` (``"pixel_values"``) and ``label_key`` the samples' label.

    * Training batches are mixed by ``data_collator``; its ``set_epoch`` is called as each epoch
      begins. Evaluation and prediction batches go through an unmixed copy of it (the same keys
      and conversions, ``enabled=False``), with the labels as a plain tensor, so ``evaluate()``,
      ``predict()`` and ``compute_metrics`` see what a plain loader gives.
    * The loss is ``criterion(outputs.logits, labels)``: the labels are taken out of the batch
      and never reach the model. The criterion returns the batch mean; with gradient
      accumulation the Trainer divides it by the number of accumulation steps.

    Args:
        *args: Passed to ``transformers.Trainer``.
        criterion: ``loss(logits, target)`` for a :class:`~cutmix_collate.MixedTarget` (training)
            and for class indices of shape ``(B,)`` (evaluation). Defaults to
            ``CutMixCriterion(nn.CrossEntropyLoss(label_smoothing=args.label_smoothing_factor))``.
        **kwargs: Passed to ``transformers.Trainer``.

    Raises:
        TypeError: ``data_collator`` is not one of the package's collators.
        ValueError: ``image_key`` is not an input of ``model.forward``, ``label_key`` is None,
            ``return_boxes=True``, ``args.label_names`` differs from ``[label_key]``, or a loss is
            set twice (``compute_loss_func``; ``criterion`` with ``args.label_smoothing_factor``).
    """

    loss_is_scaled_for_ga = False  # the criterion's loss is a per-batch mean (read by transformers >= 5)

    def __init__(self, *args: Any, criterion: Optional[Callable[[Tensor, Any], Tensor]] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        collator = self.data_collator
        if not isinstance(collator, _COLLATORS):
            raise TypeError("data_collator must be a CutMixCollator, MixUpCollator or CutMixOrMixUpCollator, "
                            f"got {describe(collator)}")
        params = inspect.signature(self.model.forward).parameters  # type: ignore[union-attr]
        names = [n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if collator.image_key not in names:
            raise ValueError(f"data_collator.image_key must be an input of {type(self.model).__name__}.forward "
                             f"({', '.join(names)}), got {collator.image_key!r}")
        if collator.label_key is None or collator.return_boxes:
            raise ValueError("CutMixTrainer needs a collator with a label_key and return_boxes=False, got "
                             f"label_key={collator.label_key!r}, return_boxes={collator.return_boxes}")
        if self.args.label_names not in (None, [collator.label_key]):
            raise ValueError(f"args.label_names must be None or [{collator.label_key!r}] (the collator's "
                             f"label_key), got {self.args.label_names!r}")
        if self.compute_loss_func is not None or (criterion is not None and self.args.label_smoothing_factor):
            raise ValueError("CutMixTrainer computes the loss with criterion: pass criterion= rather than "
                             "compute_loss_func, and put label smoothing in your criterion rather than in args")
        self.label_names = [collator.label_key]
        self.eval_collator = _Unmixed(collator)
        self.criterion = criterion if criterion is not None else CutMixCriterion(
            nn.CrossEntropyLoss(label_smoothing=self.args.label_smoothing_factor))
        self.add_callback(_SetEpoch(collator))

    def compute_loss(self, model: nn.Module, inputs: Dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Optional[Union[Tensor, int]] = None) -> Any:
        """``criterion(model(**inputs without the labels).logits, labels)``, and the outputs if asked."""
        inputs = dict(_dict_batch(inputs))  # a copy: the Trainer's batch keeps its labels
        labels = inputs.pop(self.label_names[0])
        outputs = model(**inputs)
        loss = self.criterion(outputs["logits"] if isinstance(outputs, Mapping) else outputs[0], labels)
        return (loss, outputs) if return_outputs else loss

    def get_eval_dataloader(self, eval_dataset: Optional[Union[str, Dataset]] = None) -> DataLoader:
        """The Trainer's evaluation loader, collated by the unmixed copy of ``data_collator``."""
        with self._unmixed():
            return super().get_eval_dataloader(eval_dataset)

    def get_test_dataloader(self, test_dataset: Dataset) -> DataLoader:
        """The Trainer's prediction loader, collated by the unmixed copy of ``data_collator``."""
        with self._unmixed():
            return super().get_test_dataloader(test_dataset)

    @contextlib.contextmanager
    def _unmixed(self) -> Iterator[None]:
        mixing, self.data_collator = self.data_collator, self.eval_collator
        try:
            yield
        finally:
            self.data_collator = mixing
