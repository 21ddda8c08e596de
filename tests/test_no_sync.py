"""No host synchronisation on an accelerator, on any rank, in either mode (issue 19 point 2).

Without a GPU this runs on ``device="meta"`` tensors (shapes, no values) under a
``TorchDispatchMode`` that records the two things that synchronise a device: reading a value
back (``aten._local_scalar_dense`` on a non-CPU tensor) and copying a CPU tensor to a non-CPU
device. With a GPU the same calls run under ``torch.cuda.set_sync_debug_mode("error")``.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from cutmix_collate import apply_params, box_lambda, cutmix_batch, draw_params, mix_labels, mixup_batch

from _helpers import requires_cuda
MODES = ["batch", "elem"]
COPIES = {torch.ops.aten._to_copy.default, torch.ops.aten.copy_.default, torch.ops.aten.copy.default}


class SyncRecorder(TorchDispatchMode):
    """Records every operation that would make the host wait for a device."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        inputs = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        if func is torch.ops.aten._local_scalar_dense.default and inputs[0].device.type != "cpu":
            self.events.append(f"{func}: a value of a {inputs[0].device} tensor read on the host")
        result = func(*args, **kwargs)
        outputs = [t for t in tree_leaves(result) if isinstance(t, torch.Tensor)]
        if any(t.device.type != "cpu" for t in outputs):
            cpu_inputs = [t for t in inputs if t.device.type == "cpu" and (func in COPIES or t.dim() > 0)]
            if cpu_inputs:
                self.events.append(f"{func}: CPU tensor of shape {tuple(cpu_inputs[0].shape)} copied to "
                                   f"{outputs[0].device}")
        return result


def test_the_recorder_catches_both_kinds_of_sync():
    # Negative controls: the recorder is not blind.
    with SyncRecorder() as rec:
        torch.arange(3).to("meta")
        with pytest.raises((RuntimeError, NotImplementedError)):
            float(torch.ones(2, device="meta").sum())
        torch.ones(4, device="meta").index_select(0, torch.tensor([0, 1]))  # a CPU index sent to the device
    assert len(rec.events) == 3, rec.events
    with SyncRecorder() as rec:  # and a clean computation stays clean
        x = torch.ones(4, 3, device="meta")
        (x * 2 + torch.tensor(1.0)).sum()  # a 0-d CPU tensor is a scalar argument, not a copy
    assert rec.events == []


def _meta_batch(b=8, shape=(3, 16, 16), labels="index"):
    images = torch.empty((b,) + shape, device="meta")
    y = torch.empty(b, dtype=torch.long, device="meta") if labels == "index" else torch.empty(b, 5, device="meta")
    return images, y


@pytest.mark.parametrize("rank", ["0", "1", "3"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("prob", [1.0, 0.5, 0.0])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_cutmix_batch_never_synchronises(monkeypatch, rank, mode, prob, dims):
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("WORLD_SIZE", "4")
    images, y = _meta_batch(shape=(2, 6, 8, 10), labels="index" if dims != 2 else "vector")
    for seed in range(3):  # prob 0.5: mixed and unmixed batches
        torch.manual_seed(seed)
        with SyncRecorder() as rec:
            out, target = cutmix_batch(images, y, mode=mode, prob=prob, dims=dims)
        assert rec.events == [], rec.events
        assert out.device.type == "meta" and out.shape == images.shape
        assert target.y_b.device.type == "meta" and target.y_b.shape == y.shape
        if mode == "elem":
            assert target.lam.device.type == "meta" and target.lam.shape == (8,)
        else:
            assert type(target.lam) is float


@pytest.mark.parametrize("rank", ["0", "1"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("inplace", [False, True])
def test_mixup_batch_never_synchronises(monkeypatch, rank, mode, inplace):
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("WORLD_SIZE", "2")
    images, y = _meta_batch()
    with SyncRecorder() as rec:
        out, target = mixup_batch(images, y, mode=mode, prob=0.7, inplace=inplace)
    assert rec.events == [], rec.events
    assert out.device.type == "meta" and target.y_b.device.type == "meta"


@pytest.mark.parametrize("kind", ["cutmix", "mixup"])
@pytest.mark.parametrize("mode", MODES)
def test_draw_and_apply_never_synchronise(monkeypatch, kind, mode):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    images, y = _meta_batch()
    with SyncRecorder() as rec:
        params = draw_params(8, 16, 16, kind=kind, mode=mode, device="meta")
        apply_params(images, params)
        apply_params(images, params, out=torch.empty_like(images))
        mix_labels(y, params)
    assert rec.events == [], rec.events


def test_box_lambda_on_an_accelerator_neither_synchronises_nor_pretends_to_check():
    # Before: bool(ok.all()) read the device (a sync), then `or device != "cpu"` made the check never fail.
    box = tuple(torch.zeros(4, dtype=torch.long, device="meta") for _ in range(4))
    with SyncRecorder() as rec:
        lam = box_lambda(8, 8, box)
    assert rec.events == [] and lam.device.type == "meta" and lam.dtype == torch.float32
    with pytest.raises(ValueError, match=r"box must satisfy 0 <= y0 <= y1 <= 8 and 0 <= x0 <= x1 <= 8"):
        box_lambda(8, 8, tuple(torch.tensor([v]) for v in (0, 9, 0, 4)))  # on the CPU it is checked


# ============================================================================ CUDA


@requires_cuda
@pytest.mark.parametrize("rank", ["0", "1"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_cuda_without_sync_and_rank_distinct(monkeypatch, rank, mode, dims):
    images = torch.arange(8 * 2 * 6 * 8 * 10, dtype=torch.float32, device="cuda").view(8, 2, 6, 8, 10)
    y = torch.arange(8, device="cuda")
    draws = {}
    for r in ("0", "1"):
        monkeypatch.setenv("RANK", r)
        monkeypatch.setenv("WORLD_SIZE", "2")
        torch.manual_seed(0)  # the same seed on every rank, as many scripts do
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            out, target = cutmix_batch(images, y, mode=mode, dims=dims)
            mixup_batch(images, y, mode=mode)
        finally:
            torch.cuda.set_sync_debug_mode(0)
        draws[r] = (out.cpu(), target.y_b.cpu(), target.lam.cpu() if mode == "elem" else target.lam)
        torch.manual_seed(0)
        again = cutmix_batch(images, y, mode=mode, dims=dims)
        assert torch.equal(again[0], out), "not reproducible on its rank"
    assert not torch.equal(draws["0"][1], draws["1"][1]) or not torch.equal(draws["0"][0], draws["1"][0])
