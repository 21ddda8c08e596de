"""The README's Lightning examples run: mixing in the loader (collate_fn in the DataModule) and on
the device (CutMixCallback), the criterion in training_step either way.

Skipped when ``lightning`` is not installed. The callback itself is tested in test_callback.py.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

L = pytest.importorskip("lightning")

# Lightning 2.6 calls a torch pytree API that torch deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*")

from cutmix_collate import CutMixCollator, CutMixCriterion, MixedMetrics, MixedTarget  # noqa: E402
from cutmix_collate.lightning import CutMixCallback  # noqa: E402


# ---- the README example (kept in sync by hand) ---------------------------------------------


class DigitsData(L.LightningDataModule):
    def __init__(self, train_set, val_set, batch_size=32, num_workers=0):
        super().__init__()
        self.train_set, self.val_set = train_set, val_set
        self.batch_size, self.num_workers = batch_size, num_workers
        self.collate = CutMixCollator(alpha=1.0)  # mixing happens in the loader's workers

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True,
                          num_workers=self.num_workers, collate_fn=self.collate)

    def val_dataloader(self):  # default_collate: plain labels
        return DataLoader(self.val_set, batch_size=256, num_workers=self.num_workers)


class LitClassifier(L.LightningModule):
    def __init__(self, model, num_classes):
        super().__init__()
        self.model = model
        self.criterion = CutMixCriterion()  # a MixedTarget in training, plain labels in validation
        self.train_metrics = MixedMetrics(num_classes)
        self.val_metrics = MixedMetrics(num_classes)

    def training_step(self, batch, batch_idx):
        images, target = batch  # target = MixedTarget(y_a, y_b, lam)
        logits = self.model(images)
        loss = self.criterion(logits, target)
        self.train_metrics.update(logits.detach(), target, loss=loss.detach())
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def on_train_epoch_end(self):
        self.log_dict({f"train_{k}": v for k, v in self.train_metrics.compute().items()})
        self.train_metrics.reset()

    def validation_step(self, batch, batch_idx):
        images, labels = batch
        logits = self.model(images)
        self.val_metrics.update(logits, labels, loss=self.criterion(logits, labels))

    def on_validation_epoch_end(self):
        self.log_dict({f"val_{k}": v for k, v in self.val_metrics.compute().items()})
        self.val_metrics.reset()

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=3e-3)


class PlainData(DigitsData):
    """The README's callback example: no collate_fn, default_collate's [images, labels]."""

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True,
                          num_workers=self.num_workers, pin_memory=torch.cuda.is_available())


# ---- the tests ------------------------------------------------------------------------------


def _data(n, seed):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    images = torch.randn(n, 1, 16, 16, generator=g) * 0.3
    images[:, 0, :8, :8] += (labels == 0).float().view(-1, 1, 1)  # a learnable cue per class
    images[:, 0, 8:, 8:] += (labels == 1).float().view(-1, 1, 1)
    images[:, 0, :8, 8:] += (labels == 2).float().view(-1, 1, 1)
    return TensorDataset(images, labels)


def test_lightning_trains_a_few_steps_with_cutmix(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
                          nn.Flatten(), nn.Linear(8 * 16, 4))
    module = LitClassifier(model, num_classes=4)
    seen = []

    class Spy(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.append(batch[1])

    trainer = L.Trainer(
        max_epochs=2, limit_train_batches=4, limit_val_batches=1, accelerator="cpu", devices=1,
        logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path, callbacks=[Spy()],
    )
    trainer.fit(module, datamodule=DigitsData(_data(128, 0), _data(64, 1)))
    assert trainer.global_step == 8
    assert len(seen) == 8 and all(isinstance(t, MixedTarget) for t in seen)  # survives the transfer
    _check_metrics(trainer.callback_metrics)


def _check_metrics(metrics):
    # "f1" is in MixedMetrics' keys before and after its rename of the F1 keys.
    for key in ("train_loss", "train_accuracy", "train_f1", "val_loss", "val_accuracy", "val_f1"):
        assert key in metrics, key
        assert math.isfinite(float(metrics[key]))
    assert 0.0 <= float(metrics["val_accuracy"]) <= 1.0


@pytest.mark.filterwarnings("ignore:.*will use `CSVLogger` as the default logger.*")
def test_lightning_trains_a_few_steps_with_the_callback(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
                          nn.Flatten(), nn.Linear(8 * 16, 4))
    module = LitClassifier(model, num_classes=4)
    seen = []

    class Spy(L.Callback):  # runs after the mixing callback, as training_step would
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.append(batch[1])

    mixing = CutMixCallback(alpha=1.0, mode="elem", off_epoch=1, log_every_n_steps=3)
    trainer = L.Trainer(
        max_epochs=2, limit_train_batches=4, limit_val_batches=1, accelerator="cpu", devices=1,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        log_every_n_steps=1, default_root_dir=tmp_path, callbacks=[mixing, Spy()],
    )
    trainer.fit(module, datamodule=PlainData(_data(128, 0), _data(64, 1)))
    assert trainer.global_step == 8 and len(seen) == 8
    assert all(isinstance(t, MixedTarget) for t in seen)
    assert all(bool((t.lam < 1).any()) for t in seen[:4])  # mixed in epoch 0 ...
    assert all(bool((t.lam == 1).all()) for t in seen[4:])  # ... and not from off_epoch=1 on
    _check_metrics(trainer.callback_metrics)
    # The default logger: TensorBoard when installed (it takes the images), else CSV (PNG files).
    pngs = sorted(p.name for p in tmp_path.rglob("*.png"))
    assert pngs == ([] if trainer.logger.__class__.__name__ == "TensorBoardLogger"
                    else ["step_000000.png", "step_000003.png"])
