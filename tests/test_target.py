"""MixedTarget survives every container trainers rebuild (issue 20 point 1).

Each test rebuilds a target the way one framework does and checks the result is still a
``MixedTarget`` with the same fields: the same tensors (values, dtype, device) and ``lam`` of
the same type (a Python float stays a float, a tensor stays a tensor).
"""

import copy
import pickle

import pytest
import torch
from torch.utils import _pytree as pytree

from cutmix_collate import CutMixCriterion, MixedTarget, cutmix_batch
from _helpers import requires_cuda


LAMS = [0.25, torch.tensor([0.5, 0.75, 1.0])]


def _target(lam):
    return MixedTarget(torch.tensor([0, 1, 2]), torch.tensor([2, 0, 1]), lam)


def _assert_same(got, want, device="cpu"):
    assert type(got) is MixedTarget
    assert got._fields == ("y_a", "y_b", "lam")
    for name in ("y_a", "y_b"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.device.type == device and a.dtype == b.dtype and torch.equal(a.cpu(), b.cpu())
    assert type(got.lam) is type(want.lam)
    if isinstance(want.lam, torch.Tensor):
        assert got.lam.device.type == device and torch.equal(got.lam.cpu(), want.lam)
    else:
        assert got.lam == want.lam


@pytest.mark.parametrize("lam", LAMS, ids=["float", "tensor"])
class TestMixedTarget:
    def test_fields_unpacking_replace(self, lam):
        t = _target(lam)
        y_a, y_b, got_lam = t
        assert y_a is t.y_a and y_b is t.y_b and got_lam is t.lam is lam
        batch = (torch.zeros(3, 1, 2, 2), t)
        images, (y_a, y_b, got_lam) = batch  # the batch unpacking of the docs
        assert images is batch[0] and y_b is t.y_b and got_lam is lam
        r = t._replace(lam=0.5)
        assert type(r) is MixedTarget and r.lam == 0.5 and r.y_a is t.y_a
        assert MixedTarget._make(list(t)) == t
        assert t._asdict() == {"y_a": t.y_a, "y_b": t.y_b, "lam": lam}
        assert MixedTarget(y_a=t.y_a, y_b=t.y_b, lam=lam) == t

    def test_type_of_target_from_one_iterable(self, lam):
        # transformers' Trainer._prepare_input rebuilds every tuple as type(data)(generator).
        t = _target(lam)
        _assert_same(type(t)(x for x in t), t)
        _assert_same(type(t)(list(t)), t)
        _assert_same(type(t)(t), t)

    def test_pytree(self, lam):
        t = _target(lam)
        leaves, spec = pytree.tree_flatten(t)
        assert len(leaves) == 3 and leaves[0] is t.y_a and leaves[2] is t.lam
        _assert_same(pytree.tree_unflatten(leaves, spec), t)
        doubled = pytree.tree_map(lambda x: x * 2, {"labels": t})["labels"]
        assert type(doubled) is MixedTarget and torch.equal(doubled.y_b, t.y_b * 2)
        assert type(doubled.lam) is type(lam)

    def test_accelerate_send_to_device(self, lam):
        operations = pytest.importorskip("accelerate.utils.operations")
        t = _target(lam)
        for device in ("cpu", torch.device("cpu")):
            _assert_same(operations.send_to_device(t, device), t)
            batch = operations.send_to_device({"pixel_values": torch.zeros(3, 1), "labels": t}, device)
            _assert_same(batch["labels"], t)
        # honor_type is what accelerate uses for any tuple it walks (gather, concatenate, ...).
        _assert_same(operations.honor_type(t, (x for x in t)), t)

    def test_lightning_move_and_apply(self, lam):
        apply_func = pytest.importorskip("lightning.fabric.utilities.apply_func")
        t = _target(lam)
        moved = apply_func.move_data_to_device([torch.zeros(3, 1), t], torch.device("cpu"))
        _assert_same(moved[1], t)
        doubled = apply_func.apply_to_collection({"labels": t}, torch.Tensor, lambda x: x * 2)["labels"]
        assert type(doubled) is MixedTarget and torch.equal(doubled.y_a, t.y_a * 2)
        assert type(doubled.lam) is type(lam)

    def test_copy_and_pickle(self, lam):
        t = _target(lam)
        assert copy.copy(t) == t
        _assert_same(copy.copy(t), t)
        deep = copy.deepcopy(t)
        _assert_same(deep, t)
        assert deep.y_a is not t.y_a
        _assert_same(pickle.loads(pickle.dumps(t)), t)
        _assert_same(pickle.loads(pickle.dumps({"labels": [t]}, protocol=0))["labels"][0], t)

    def test_to(self, lam):
        t = _target(lam)
        assert t.to(None) is t
        _assert_same(t.to("cpu"), t)
        _assert_same(t.to(torch.device("cpu"), non_blocking=True), t)

    @requires_cuda
    def test_to_cuda_through_the_frameworks(self, lam):
        t = _target(lam)
        _assert_same(t.to("cuda"), t, device="cuda")
        _assert_same(pytree.tree_map(lambda x: x.cuda() if isinstance(x, torch.Tensor) else x, t), t, "cuda")
        operations = pytest.importorskip("accelerate.utils.operations")
        _assert_same(operations.send_to_device(t, torch.device("cuda")), t, device="cuda")


def test_rebuilt_target_still_drives_the_loss():
    # A target that went through a rebuild gives the same loss as the original one.
    images, labels = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 1])
    _, target = cutmix_batch(images, labels, generator=torch.Generator().manual_seed(0))
    logits = torch.randn(4, 3)
    rebuilt = pytree.tree_unflatten(*pytree.tree_flatten(type(target)(x for x in target)))
    expected = target.lam * torch.nn.functional.cross_entropy(logits, target.y_a) + (
        1 - target.lam) * torch.nn.functional.cross_entropy(logits, target.y_b)
    torch.testing.assert_close(CutMixCriterion()(logits, rebuilt), expected)


@pytest.mark.parametrize(
    "args, msg",
    [
        ((torch.tensor([0, 1]),), r"missing 2 required positional arguments: 'y_b' and 'lam'"),
        (([torch.tensor([0, 1]), torch.tensor([1, 0])],), r"missing 1 required positional argument: 'lam'"),
        ((torch.tensor([0]), torch.tensor([0]), 1.0, 2.0), r"takes 4 positional arguments but 5 were given"),
    ],
)
def test_wrong_number_of_fields(args, msg):
    with pytest.raises(TypeError, match=msg):
        MixedTarget(*args)
