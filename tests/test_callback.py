"""CutMixCallback in a Lightning Trainer on the CPU: what reaches training_step, and what does not.

Sample ``k`` is an encoded image of identity ``k`` with label ``k`` (``_datasets.EncodedDataset``),
so every pixel of a mixed batch says where it came from and ``check_provenance`` checks the
batches against their own pixels: each image is its own pixels plus one rectangle from the
partner ``y_b`` names, and ``lam`` is the share of its own pixels. Unmixed batches are compared
with ``default_collate``. Each Trainer runs a few steps of a linear model. Skipped without
``lightning``.
"""

from __future__ import annotations

import io
import math
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, default_collate

L = pytest.importorskip("lightning")

from lightning.pytorch.loggers import CSVLogger, Logger  # noqa: E402

from _datasets import EncodedDataset, check_provenance  # noqa: E402
from cutmix_collate import CutMixCollator, CutMixCriterion, MixBoxes, MixedTarget, mixed_grid  # noqa: E402
from cutmix_collate.lightning import CutMixCallback  # noqa: E402

# Lightning 2.6 calls a torch pytree API that torch deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*", "ignore:.*does not have many workers.*")

N, SHAPE, BATCH = 32, (1, 8, 8), 8


# ---- a tiny module that records what its steps see -------------------------------------------


def _parts(batch):
    return (batch["image"], batch["label"]) if isinstance(batch, dict) else (batch[0], batch[1])


class Recorder(L.LightningModule):
    """A linear classifier over the N sample identities; keeps every batch its steps receive."""

    def __init__(self, shape=SHAPE):
        super().__init__()
        self.layer = nn.Linear(math.prod(shape), N)
        self.criterion = CutMixCriterion()
        self.train_batches, self.val_batches = [], []

    def training_step(self, batch, batch_idx):
        self.train_batches.append((self.current_epoch, self.global_step, type(batch)(batch)))
        images, target = _parts(batch)
        loss = self.criterion(self.layer(images.flatten(1).float() / 4096), target)
        self.log("loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.val_batches.append(type(batch)(batch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Loader:
    """DataLoader arguments whose collate_fn keeps each batch it returns and a copy of it."""

    def __init__(self, as_dict=False, collate=default_collate, shape=SHAPE, dtype=torch.float32):
        self.dataset = EncodedDataset(N, shape, dtype, as_dict=as_dict)
        self.collate, self.returned = collate, []

    def __call__(self, samples):
        batch = self.collate(samples)
        images = _parts(batch)[0]
        self.returned.append((images, images.clone()))
        return batch

    def train(self):
        return DataLoader(self.dataset, batch_size=BATCH, shuffle=True, collate_fn=self)

    def val(self):
        return DataLoader(self.dataset, batch_size=BATCH)


def _fit(tmp_path, callback, module=None, loader=None, *, epochs=1, batches=3, **trainer_args):
    module = module or Recorder()
    loader = loader or Loader()
    options = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, num_sanity_val_steps=0, log_every_n_steps=1,
                   accelerator="cpu", devices=1)
    options.update(trainer_args)
    trainer = L.Trainer(max_epochs=epochs, limit_train_batches=batches, limit_val_batches=1,
                        default_root_dir=tmp_path,
                        callbacks=[callback], **options)
    torch.manual_seed(0)
    trainer.fit(module, train_dataloaders=loader.train(), val_dataloaders=loader.val())
    return trainer, module, loader


def _check_mixed(batch, mode, dims=2):
    """Provenance of one mixed batch; returns (partners, boxes) of ``check_provenance``."""
    images, target = _parts(batch)
    assert isinstance(target, MixedTarget)
    return check_provenance(images, target, target.y_a.tolist(), mode=mode, encode=True, dims=dims)


def _reference(dataset, labels):
    """What default_collate makes of the samples with these labels: the unmixed batch."""
    return default_collate([dataset[int(k)] for k in labels])


# ---- list and dict batches ---------------------------------------------------------------------


class TestCutMixCallbackTraining:
    @pytest.mark.parametrize("mode", ["batch", "elem"])
    def test_list_batches_are_mixed_and_validation_is_not(self, tmp_path, mode):
        trainer, module, loader = _fit(tmp_path, CutMixCallback(alpha=1.0, mode=mode))
        assert trainer.global_step == 3 and len(module.train_batches) == 3
        pasted = 0
        for _, _, batch in module.train_batches:
            assert isinstance(batch, list) and len(batch) == 2
            _, rects = _check_mixed(batch, mode)
            pasted += sum(r is not None for r in rects)
        assert pasted > 0, "nothing was pasted in three batches"
        for images, copy in loader.returned:  # the loader's tensors are not written to
            assert torch.equal(images, copy)
        assert module.val_batches, "validation did not run"
        for batch in module.val_batches:
            reference = _reference(loader.dataset, batch[1])
            assert not isinstance(batch[1], MixedTarget)
            assert torch.equal(batch[0], reference[0]) and torch.equal(batch[1], reference[1])

    def test_dict_batches_mix_the_given_keys_only(self, tmp_path):
        loader = Loader(as_dict=True)
        callback = CutMixCallback(mode="elem", image_key="image", label_key="label")
        _, module, _ = _fit(tmp_path, callback, loader=loader)
        for _, _, batch in module.train_batches:
            assert isinstance(batch, dict) and list(batch) == ["idx", "image", "label", "name"]
            _check_mixed(batch, "elem")
            reference = _reference(loader.dataset, batch["label"].y_a)
            assert torch.equal(batch["idx"], reference["idx"]) and batch["name"] == reference["name"]
        for batch in module.val_batches:
            assert torch.equal(batch["image"], _reference(loader.dataset, batch["label"])["image"])

    @pytest.mark.parametrize("mode", ["batch", "elem"])
    def test_off_epoch_passes_batches_through_unmixed(self, tmp_path, mode):
        callback = CutMixCallback(mode=mode, off_epoch=1)
        _, module, loader = _fit(tmp_path, callback, epochs=2, batches=2)
        epochs = [epoch for epoch, _, _ in module.train_batches]
        assert epochs == [0, 0, 1, 1]
        first = [_check_mixed(batch, mode)[1] for epoch, _, batch in module.train_batches if epoch == 0]
        assert any(r is not None for rects in first for r in rects)
        for epoch, _, (images, target) in module.train_batches[2:]:
            reference = _reference(loader.dataset, target.y_a)
            assert torch.equal(images, reference[0]) and torch.equal(target.y_b, target.y_a)
            assert torch.all(torch.as_tensor(target.lam) == 1.0)

    def test_bf16_mixed_precision(self, tmp_path):
        trainer, module, _ = _fit(tmp_path, CutMixCallback(mode="elem"), batches=2, precision="bf16-mixed")
        assert trainer.global_step == 2
        for _, _, batch in module.train_batches:
            _check_mixed(batch, "elem")
        assert math.isfinite(float(trainer.callback_metrics["loss"]))

    @pytest.mark.parametrize("mode", ["batch", "elem"])
    def test_images_that_require_grad_pass_the_gradient(self, tmp_path, mode):
        class Augmented(Recorder):  # a learnable on-device step before the callback
            def __init__(self):
                super().__init__()
                self.gain = nn.Parameter(torch.ones(()))
                self.grads = []

            def on_after_batch_transfer(self, batch, dataloader_idx):
                if self.trainer.training:
                    batch[0] = batch[0] * self.gain
                return batch

            def on_after_backward(self):
                self.grads.append(self.gain.grad.clone())

            def configure_optimizers(self):  # the gain stays 1, so the pixels still decode
                return torch.optim.SGD(self.layer.parameters(), lr=0.1)

        _, module, _ = _fit(tmp_path, CutMixCallback(mode=mode), Augmented(), batches=2)
        for _, _, batch in module.train_batches:
            assert batch[0].requires_grad
            _check_mixed(batch, mode)
        assert len(module.grads) == 2 and all(g != 0 and torch.isfinite(g) for g in module.grads)


# ---- bad batches and arguments -----------------------------------------------------------------


def _call(callback, batch):
    """Run the hook once outside a fit (epoch 0, step 0)."""
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    callback.on_train_batch_start(trainer, Recorder(), batch, 0)
    return batch


def _tuple_collate(samples):
    return tuple(default_collate(samples))


class TestCutMixCallbackErrors:
    def test_tuple_batches_say_what_to_return(self, tmp_path):
        with pytest.raises(TypeError, match=r"list \[images, labels, \.\.\.\].*got a tuple of 2 items: "
                                            r"return a list instead of a tuple from your collate_fn"):
            _fit(tmp_path, CutMixCallback(), loader=Loader(collate=_tuple_collate))

    def test_labels_already_mixed_by_the_collator(self, tmp_path):
        with pytest.raises(TypeError, match="already a MixedTarget: mix in the loader .* not both"):
            _fit(tmp_path, CutMixCallback(), loader=Loader(collate=CutMixCollator()))

    @pytest.mark.parametrize("kwargs, batch, msg", [
        ({}, {"image": torch.zeros(2, 4, 4), "label": torch.zeros(2)},
         r"image_key must be a key of the dict batch, one of \['image', 'label'\], got None"),
        ({"image_key": "image", "label_key": "y"}, {"image": torch.zeros(2, 4, 4), "label": torch.zeros(2)},
         r"label_key must be a key of the dict batch, one of \['image', 'label'\], got 'y'"),
        ({"image_key": 2}, [torch.zeros(2, 4, 4), torch.zeros(2)],
         r"image_key must be a position in the list batch of 2 items, 0 to 1, got 2"),
        ({"image_key": "image"}, [torch.zeros(2, 4, 4), torch.zeros(2)],
         r"image_key must be a position in the list batch of 2 items, 0 to 1, got 'image'"),
        ({"label_key": 0}, [torch.zeros(2, 4, 4), torch.zeros(2)],
         "image_key and label_key must differ, got 0 for both"),
    ])
    def test_keys_that_do_not_fit_the_batch(self, kwargs, batch, msg):
        with pytest.raises(ValueError, match=msg):
            _call(CutMixCallback(**kwargs), batch)

    def test_other_batch_types(self):
        with pytest.raises(TypeError, match=r"or a dict; got a tensor of shape \(2, 4, 4\)"):
            _call(CutMixCallback(), torch.zeros(2, 4, 4))

    def test_bad_images_are_named_by_cutmix_batch(self):
        with pytest.raises(ValueError, match=r"labels must have shape \(2,\) or \(2, K\) to match images"):
            _call(CutMixCallback(), [torch.zeros(2, 4, 4), torch.zeros(3, dtype=torch.long)])

    @pytest.mark.parametrize("kwargs, exc, msg", [
        ({"alpha": 0}, ValueError, "alpha must be a finite number > 0, got 0.0"),
        ({"prob": 1.5}, ValueError, r"prob must be a number in \[0, 1\], got 1.5"),
        ({"mode": "pixel"}, ValueError, "mode must be one of 'batch', 'elem', got 'pixel'"),
        ({"off_epoch": -1}, ValueError, "off_epoch must be an int >= 0, got -1"),
        ({"off_epoch": 1.5}, TypeError, r"off_epoch must be an int >= 0, got 1.5 \(float\)"),
        ({"log_every_n_steps": 0}, ValueError, "log_every_n_steps must be an int >= 1, got 0"),
        ({"dims": 4}, ValueError, r"dims must be 1, 2 or 3 \(the number of trailing axes the box spans\), got 4"),
        ({"dims": "2"}, TypeError, r"dims must be 1, 2 or 3 .*got '2'"),
        ({"image_key": 1.0}, TypeError,
         r"image_key must be a list position \(int\), a dict key \(str\) or None, got 1.0 \(float\)"),
        ({"label_key": True}, TypeError, r"label_key must be a list position .* got True \(bool\)"),
    ])
    def test_bad_arguments(self, kwargs, exc, msg):
        with pytest.raises(exc, match=msg):
            CutMixCallback(**kwargs)

    def test_the_batch_list_is_changed_its_tensors_are_not(self):
        images, labels = torch.arange(2 * 16.0).reshape(2, 1, 4, 4), torch.tensor([0, 1])
        batch = _call(CutMixCallback(prob=1.0), [images, labels, "extra"])
        assert batch[0] is not images and isinstance(batch[1], MixedTarget) and batch[2] == "extra"
        assert torch.equal(images, torch.arange(2 * 16.0).reshape(2, 1, 4, 4))
        assert torch.equal(labels, torch.tensor([0, 1]))


# ---- pictures ----------------------------------------------------------------------------------


class ImageLogger(Logger):
    """A logger whose experiment takes images, the way TensorBoard's SummaryWriter does."""

    def __init__(self):
        super().__init__()
        self.images = []

    name, version = "images", 0

    @property
    def experiment(self):
        return self

    def add_image(self, tag, img_tensor, global_step=None):
        self.images.append((tag, img_tensor, global_step))

    def log_metrics(self, metrics, step=None):
        pass

    def log_hyperparams(self, params, *args, **kwargs):
        pass


def _expected_grid(module, loader, step):
    """mixed_grid of the batch of ``step`` with the boxes its pixels show (batch mode)."""
    index = [s for _, s, _ in module.train_batches].index(step)
    images, target = module.train_batches[index][2]
    partners, rects = _check_mixed([images, target], "batch")
    (rect,) = {r for r in rects if r is not None}
    boxes = MixBoxes(torch.tensor([rect] * BATCH), torch.tensor(partners))
    return mixed_grid(images, target, boxes, sources=loader.returned[index][0])


class TestCutMixCallbackPictures:
    def test_png_under_the_log_dir_when_the_logger_takes_no_images(self, tmp_path):
        from PIL import Image

        logger = CSVLogger(tmp_path)
        _, module, loader = _fit(tmp_path, CutMixCallback(log_every_n_steps=2), logger=logger)
        folder = tmp_path / "lightning_logs" / "version_0" / "cutmix"
        assert sorted(p.name for p in folder.iterdir()) == ["step_000000.png", "step_000002.png"]
        for step in (0, 2):
            png = torch.from_numpy(np.array(Image.open(folder / f"step_{step:06d}.png")))
            assert torch.equal(png.permute(2, 0, 1), _expected_grid(module, loader, step))

    def test_add_image_when_the_logger_takes_images(self, tmp_path):
        logger = ImageLogger()
        _, module, loader = _fit(tmp_path, CutMixCallback(log_every_n_steps=2), logger=logger)
        assert [(tag, step) for tag, _, step in logger.images] == [("cutmix/batch", 0), ("cutmix/batch", 2)]
        for _, grid, step in logger.images:
            assert torch.equal(grid, _expected_grid(module, loader, step))
        assert not list(tmp_path.rglob("*.png"))

    def test_one_picture_per_step_with_gradient_accumulation(self, tmp_path):
        logger = ImageLogger()
        _fit(tmp_path, CutMixCallback(log_every_n_steps=1), batches=4, accumulate_grad_batches=2, logger=logger)
        assert [step for _, _, step in logger.images] == [0, 1]

    def test_tensorboard_logger_stores_the_grid(self, tmp_path):
        # tensorboard is in the test extra: this runs in CI, it does not skip.
        from lightning.pytorch.loggers import TensorBoardLogger
        from PIL import Image
        from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator

        logger = TensorBoardLogger(tmp_path)
        _, module, loader = _fit(tmp_path, CutMixCallback(log_every_n_steps=1), logger=logger, batches=2)
        events = EventAccumulator(logger.log_dir, size_guidance={IMAGES: 0})
        events.Reload()
        stored = events.Images("cutmix/batch")
        assert [event.step for event in stored] == [0, 1]
        for event in stored:
            png = np.array(Image.open(io.BytesIO(event.encoded_image_string)))
            assert torch.equal(torch.from_numpy(png).permute(2, 0, 1), _expected_grid(module, loader, event.step))
        assert not list(tmp_path.rglob("*.png"))

    @pytest.mark.filterwarnings("error:CutMixCallback")
    @pytest.mark.parametrize("shape, dtype", [
        ((4, 8, 8), torch.float32),  # RGBA
        ((5, 8, 8), torch.uint8),  # multispectral
        ((2, 8, 8), torch.float32),
        ((3, 8, 8), torch.uint16),
        ((1, 8, 8), torch.int32),
        ((1, 8, 8), torch.bool),
    ])
    def test_batches_of_any_dtype_and_channel_count_are_drawn(self, tmp_path, shape, dtype):
        logger = ImageLogger()
        loader = Loader(shape=shape, dtype=dtype)
        trainer, module, _ = _fit(tmp_path, CutMixCallback(log_every_n_steps=1), Recorder(shape), loader,
                                  logger=logger, batches=2)
        assert trainer.global_step == 2 and [step for _, _, step in logger.images] == [0, 1]
        for (_, grid, _), (_, _, (images, target)) in zip(logger.images, module.train_batches):
            assert grid.dtype == torch.uint8 and grid.shape[0] == 3
            if loader.dataset.encode:  # the picture is the grid of the first three channels
                partners, rects = _check_mixed([images, target], "batch")
                (rect,) = {r for r in rects if r is not None} or {(0, 0, 0, 0)}
                boxes = MixBoxes(torch.tensor([rect] * BATCH), torch.tensor(partners))
                sources = torch.stack([loader.dataset[int(k)][0] for k in target.y_a])
                assert torch.equal(grid, mixed_grid(images[:, :3], target, boxes, sources=sources[:, :3]))

    def test_a_picture_that_fails_warns_once_and_training_goes_on(self, tmp_path):
        class FullDisk(ImageLogger):
            def add_image(self, tag, img_tensor, global_step=None):
                super().add_image(tag, img_tensor, global_step)
                raise OSError("No space left on device")

        logger = FullDisk()
        with pytest.warns(RuntimeWarning) as record:
            trainer, module, _ = _fit(tmp_path, CutMixCallback(log_every_n_steps=1), logger=logger)
        ours = [str(w.message) for w in record if "CutMixCallback" in str(w.message)]
        assert ours == ["CutMixCallback(log_every_n_steps=1) could not draw the batch of step 0 and draws no "
                        "more pictures: OSError: No space left on device"]
        assert trainer.global_step == 3 and len(logger.images) == 1
        for _, _, batch in module.train_batches:  # mixing went on
            _check_mixed(batch, "batch")

    def test_without_torchvision_training_goes_on_with_a_warning(self, tmp_path, monkeypatch):
        monkeypatch.setitem(sys.modules, "torchvision", None)
        monkeypatch.setitem(sys.modules, "torchvision.utils", None)
        logger = ImageLogger()
        with pytest.warns(RuntimeWarning, match=r"draws no more pictures: ImportError: .*cutmix_collate\[vision\]"):
            trainer, _, _ = _fit(tmp_path, CutMixCallback(log_every_n_steps=1), logger=logger)
        assert trainer.global_step == 3 and not logger.images

    def test_no_logger_no_picture_no_error(self, tmp_path):
        trainer, _, _ = _fit(tmp_path, CutMixCallback(log_every_n_steps=1), batches=2)
        assert trainer.global_step == 2 and not list(tmp_path.rglob("*.png"))


# ---- boxes over one or three axes: dims -------------------------------------------------------


class TestCutMixCallbackDims:
    @pytest.mark.filterwarnings("error:CutMixCallback")
    @pytest.mark.parametrize("shape, dims, mode", [
        ((2, 32), 1, "elem"),  # signals (B, C, T): a time segment over both channels
        ((1, 8, 8), 1, "batch"),  # spectrograms (B, C, F, T): a time segment over every bin
        ((1, 4, 4, 4), 3, "elem"),  # volumes (B, C, D, H, W)
        ((4, 4, 4), 3, "batch"),  # volumes (B, D, H, W)
    ])
    def test_the_box_spans_the_last_dims_axes_and_is_drawn(self, tmp_path, shape, dims, mode):
        logger = ImageLogger()
        callback = CutMixCallback(mode=mode, dims=dims, log_every_n_steps=1)
        trainer, module, loader = _fit(tmp_path, callback, Recorder(shape), Loader(shape=shape), logger=logger,
                                       batches=2)
        assert trainer.global_step == 2 and [step for _, _, step in logger.images] == [0, 1]
        pasted, compared = [], 0
        for (_, grid, _), (_, _, batch) in zip(logger.images, module.train_batches):
            partners, rects = _check_mixed(batch, mode, dims)  # the box spans the last dims axes only
            boxes = [b for b in rects if b is not None]
            pasted += boxes
            if mode == "batch" and boxes:  # one box for the batch: the picture is exactly that batch's grid
                images, target = batch
                rows, index = torch.tensor([boxes[0]] * BATCH), torch.tensor(partners)
                sources = torch.stack([loader.dataset[int(k)][0] for k in target.y_a])
                assert torch.equal(grid, mixed_grid(images, target, MixBoxes(rows, index), sources=sources))
                compared += 1
        assert pasted, "nothing was pasted"
        assert compared or mode == "elem", "no picture was compared"

    def test_video_is_mixed_with_dims_2_and_its_picture_skipped_with_one_warning(self, tmp_path):
        shape = (2, 1, 4, 8)  # (T, C, H, W): one 2-D box on every frame; mixed_grid draws no video
        logger = ImageLogger()
        with pytest.warns(RuntimeWarning) as record:
            trainer, module, _ = _fit(tmp_path, CutMixCallback(log_every_n_steps=1), Recorder(shape),
                                      Loader(shape=shape), logger=logger)
        ours = [str(w.message) for w in record if "CutMixCallback" in str(w.message)]
        assert len(ours) == 1 and re.search(r"step 0 and draws no more pictures: ValueError: images must be "
                                            r"a real tensor of shape \(B, H, W\) or \(B, C, H, W\)", ours[0])
        assert trainer.global_step == 3 and not logger.images
        for _, _, batch in module.train_batches:
            _check_mixed(batch, "batch")


# ---- lightning stays optional ------------------------------------------------------------------


def test_import_cutmix_collate_does_not_import_lightning():
    code = "import sys, cutmix_collate; print('lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_without_lightning_the_module_says_what_to_install(monkeypatch):
    import importlib

    for name in ("lightning", "lightning.pytorch"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "cutmix_collate.lightning")
    with pytest.raises(ImportError, match=r"needs PyTorch Lightning: pip install \"cutmix_collate\[lightning\]\" or, from a clone, pip install -e \"\.\[lightning\]\""):
        importlib.import_module("cutmix_collate.lightning")


# ---- DDP: two CPU processes --------------------------------------------------------------------


class RankRecorder(Recorder):
    """Saves what each rank's steps saw, and the pictures its logger took, to ``folder``."""

    def __init__(self, folder):
        super().__init__()
        self.folder = folder

    def on_train_end(self):
        images = self.logger.images if self.logger is not None else []
        torch.save({"batches": self.train_batches, "pictures": [step for _, _, step in images]},
                   self.folder / f"rank{self.global_rank}.pt")


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PL_GLOBAL_SEED", "0")  # both ranks start from the same seed
        _fit(folder, CutMixCallback(log_every_n_steps=1), RankRecorder(folder), batches=2,
             devices=2, strategy="ddp_fork", logger=ImageLogger())
    return [torch.load(folder / f"rank{r}.pt", weights_only=False) for r in (0, 1)]


@pytest.mark.skipif(not sys.platform.startswith("linux") or not torch.distributed.is_available(),
                    reason="forked DDP ranks on CPU need Linux and torch.distributed")
class TestCutMixCallbackDDP:
    def test_each_rank_mixes_its_own_batch_and_only_rank_zero_draws(self, ddp_run):
        ids = []
        for record in ddp_run:
            assert len(record["batches"]) == 2
            for _, _, batch in record["batches"]:
                _check_mixed(batch, "batch")
                ids.append(set(batch[1].y_a.tolist()))
        assert not ids[0] & ids[2], "the ranks saw the same samples"
        assert ddp_run[0]["pictures"] == [0, 1] and ddp_run[1]["pictures"] == []

    def test_ranks_with_equal_seeds_draw_different_boxes(self, ddp_run):
        draws = [_check_mixed(record["batches"][0][2], "batch") for record in ddp_run]
        assert draws[0] != draws[1]


# ---- a thin integration ------------------------------------------------------------------------


def test_hooks_are_marked_override():
    hooks = [name for name in vars(CutMixCallback) if name.startswith("on_")]
    assert hooks == ["on_train_batch_start"]
    for name in hooks:
        assert getattr(getattr(CutMixCallback, name), "__override__", False), name
        assert callable(getattr(L.Callback, name)), name  # a hook Lightning knows


def test_the_integration_imports_only_public_names_of_the_package():
    import ast
    import pathlib

    import cutmix_collate.lightning as module

    tree = ast.parse(pathlib.Path(module.__file__).read_text())
    imported = [(node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.level > 0 for alias in node.names]
    assert imported and all(not name.startswith("_") for _, name in imported), imported
