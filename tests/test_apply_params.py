"""The draw/apply split in public (issue 17 point 1): MixSpec, MixSpec.draw, draw_params,
apply_params and mix_labels.

References: the provenance check of ``_datasets`` for CutMix, the MixUp formula
``lam * x[i] + (1 - lam) * x[index[i]]`` written out here, plain indexing for the labels, and
``cutmix_batch``/``mixup_batch`` drawn from the same seeded generator (the same draw must give
the same batch whichever door it goes through).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from _datasets import check_provenance, make_image
from cutmix_collate import (CutMixCollator, CutMixOrMixUpCollator, MixParams, MixSpec, MixUpCollator, apply_params,
                            cutmix_batch, draw_params, mix_labels, mixup_batch)

MODES = ["batch", "elem"]


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(b=5, shape=(2, 7, 9), dtype=torch.float64):
    return torch.stack([make_image(i, shape, dtype, True) for i in range(b)])


class TestApplyParams:
    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize("dims", [1, 2, 3])
    def test_cutmix_is_what_cutmix_batch_does(self, mode, dims):
        x, y = _images(6, (2, 5, 7, 9)), torch.arange(6) + 10
        for seed in range(4):
            params = draw_params(6, *x.shape[-dims:], mode=mode, dims=dims, generator=_gen(seed))
            out = apply_params(x, params)
            target = mix_labels(y, params)
            ref, ref_target, ref_boxes = cutmix_batch(x, y, mode=mode, dims=dims, generator=_gen(seed),
                                                      return_boxes=True)
            assert torch.equal(out, ref) and torch.equal(target.y_b, ref_target.y_b)
            assert torch.equal(params.boxes().boxes, ref_boxes.boxes)
            check_provenance(out, target, range(6), mode=mode, encode=True, boxes=params.boxes(), dims=dims)

    @pytest.mark.parametrize("mode", MODES)
    def test_mixup_blends_by_the_formula(self, mode):
        x, y = torch.rand(5, 3, 4, 4, dtype=torch.float64), torch.arange(5)
        params = draw_params(5, 4, 4, kind="mixup", mode=mode, generator=_gen(1))
        out = apply_params(x, params)
        lam = torch.as_tensor(params.lam, dtype=torch.float64).expand(5)
        for i, j in enumerate(params.index.tolist()):
            torch.testing.assert_close(out[i], lam[i] * x[i] + (1 - lam[i]) * x[j])
        ref, _ = mixup_batch(x, y, mode=mode, generator=_gen(1))
        assert torch.equal(out, ref)

    @pytest.mark.parametrize("kind", ["cutmix", "mixup"])
    def test_out_in_place_and_into_another_tensor(self, kind):
        x = _images()
        params = draw_params(5, 7, 9, kind=kind, mode="elem", generator=_gen(2))
        expected = apply_params(x, params)
        assert not torch.equal(expected, x)
        other = torch.full_like(x, -1.0)
        assert apply_params(x, params, out=other) is other and torch.equal(other, expected)
        work = x.clone()
        assert apply_params(work, params, out=work) is work and torch.equal(work, expected)

    def test_input_is_not_modified_and_gradients_flow(self):
        x = torch.randn(4, 2, 5, 5, dtype=torch.float64, requires_grad=True)
        before = x.detach().clone()
        params = draw_params(4, 5, 5, generator=_gen(3))
        assert params.mixed and params.lam < 1
        apply_params(x, params).sum().backward()
        assert torch.equal(x.detach(), before)
        # one box for the batch and a permutation of partners: every input element is used exactly once
        torch.testing.assert_close(x.grad, torch.ones_like(x))

    @pytest.mark.parametrize("kind", ["cutmix", "mixup"])
    def test_unmixed_params_give_a_copy(self, kind):
        x = _images()
        params = draw_params(5, 7, 9, kind=kind, prob=0.0)
        out = apply_params(x, params)
        assert torch.equal(out, x) and out.data_ptr() != x.data_ptr()
        target = mix_labels(torch.arange(5), params)
        assert torch.equal(target.y_b, target.y_a) and target.lam == 1.0

    @pytest.mark.parametrize(
        "make, exc, msg",
        [
            # params drawn for 64x64 on 8x8 images: once a clipped box with lam still 0.67
            (lambda: (torch.zeros(4, 3, 8, 8), draw_params(4, 64, 64)), ValueError,
             r"params were drawn for 4 images whose last 2 axes have sizes \(64, 64\), got images of shape \(4, 3, 8, 8\)"),
            (lambda: (torch.zeros(6, 3, 8, 8), draw_params(4, 8, 8)), ValueError,
             r"params were drawn for 4 images .* got images of shape \(6, 3, 8, 8\)"),
            (lambda: (torch.zeros(4, 8), draw_params(4, 2, 8, dims=2)), ValueError,
             r"params were drawn for 4 images whose last 2 axes have sizes \(2, 8\), got images of shape \(4, 8\)"),
            (lambda: (torch.zeros(4, 3, 8), draw_params(4, 8, 8, 8, dims=3)), ValueError,
             r"params were drawn for 4 images whose last 3 axes"),
            (lambda: (torch.zeros(4, 3, 8, 8, dtype=torch.uint8), draw_params(4, 8, 8, kind="mixup")), TypeError,
             r"MixUp blends pixel values, so images must be floating point, got torch\.uint8"),
            (lambda: (torch.zeros(4, 8, 8), draw_params(4, 8, 8)._replace(kind="cutout")), ValueError,
             r"params\.kind must be one of 'cutmix', 'mixup', got 'cutout'"),
            (lambda: (torch.zeros(4, 8, 8), (0, 1)), TypeError,
             r"params must be a MixParams \(from draw_params\), got \(0, 1\) \(tuple\)"),
            (lambda: (torch.zeros(4, 8, 8).numpy(), draw_params(4, 8, 8)), TypeError, r"images must be a tensor, got array"),
            (lambda: (torch.zeros(4, 8, 8, device="meta"), draw_params(4, 8, 8)), ValueError,
             r"params were drawn on cpu, images are on meta \(draw_params' device=\)"),
        ],
    )
    def test_params_are_checked_against_the_images(self, make, exc, msg):
        images, params = make()
        with pytest.raises(exc, match=msg):
            apply_params(images, params)

    @pytest.mark.parametrize("out, msg", [
        (torch.zeros(4, 8, 9), r"got a tensor of shape \(4, 8, 9\)"),
        (torch.zeros(4, 8, 8, dtype=torch.float64), r"dtype torch.float64"),
        ("x", r"got 'x' \(str\)"),
    ])
    def test_out_is_checked(self, out, msg):
        with pytest.raises(ValueError, match=r"out must be a tensor of the images' shape \(4, 8, 8\), dtype "
                                             r"torch\.float32 and device cpu, .*" + msg):
            apply_params(torch.zeros(4, 8, 8), draw_params(4, 8, 8), out=out)


class TestMixLabels:
    @pytest.mark.parametrize("labels", [torch.arange(5) * 3, torch.eye(5)[[4, 2, 0, 1, 3]], torch.rand(5, 3) > 0.5])
    def test_partners_labels(self, labels):
        params = draw_params(5, 4, 4, mode="elem", generator=_gen(4))
        target = mix_labels(labels, params)
        assert target.y_a is labels and target.lam is params.lam
        assert torch.equal(target.y_b, labels[params.index]) and target.y_b.dtype == labels.dtype

    def test_labels_of_another_batch_are_refused(self):
        # params for 4 images on 6 labels once gave y_a of 6 and y_b of 4
        with pytest.raises(ValueError, match=r"labels must have shape \(4,\) or \(4, K\) to match params, got shape \(6,\)"):
            mix_labels(torch.arange(6), draw_params(4, 8, 8))
        with pytest.raises(TypeError, match=r"labels must be a tensor of shape \(B,\) or \(B, K\), got \[0, 1\] \(list\)"):
            mix_labels([0, 1], draw_params(2, 8, 8))


class TestMixSpec:
    def test_defaults_and_frozen(self):
        spec = MixSpec()
        assert (spec.kind, spec.alpha, spec.prob, spec.mode, spec.dims, spec.switch) == ("cutmix", 1.0, 1.0, "batch", 2, None)
        with pytest.raises(dataclasses.FrozenInstanceError):
            spec.alpha = 2.0
        assert type(MixSpec(alpha=2).alpha) is float

    def test_replace_checks_again(self):
        spec = MixSpec(mode="elem", dims=3)
        assert dataclasses.replace(spec, prob=0.25) == MixSpec(prob=0.25, mode="elem", dims=3)
        with pytest.raises(ValueError, match=r"prob must be a number in \[0, 1\], got 2\.0"):
            dataclasses.replace(spec, prob=2.0)

    @pytest.mark.parametrize(
        "kw, exc, msg",
        [
            (dict(kind="cutmix", switch=(0.5, 0.2)), ValueError,
             r"switch=\(cutmix_prob, mixup_alpha\) goes with kind='cutmix_or_mixup' and only with it, got "
             r"kind='cutmix' and switch=\(0\.5, 0\.2\)"),
            (dict(kind="cutmix_or_mixup"), ValueError, r"goes with kind='cutmix_or_mixup' and only with it, got "
                                                       r"kind='cutmix_or_mixup' and switch=None"),
            (dict(kind="cutmix_or_mixup", switch=[0.5, 0.2]), TypeError,
             r"switch must be a tuple \(cutmix_prob, mixup_alpha\), got \[0\.5, 0\.2\] \(list\)"),
            (dict(kind="cutmix_or_mixup", switch=(1.5, 0.2)), ValueError, r"switch_prob must be a number in \[0, 1\], got 1\.5"),
            (dict(kind="cutmix_or_mixup", switch=(0.5, 0)), ValueError, r"mixup_alpha must be a finite number > 0, got 0"),
            (dict(kind="blend"), ValueError, r"kind must be one of 'cutmix', 'mixup', 'cutmix_or_mixup', got 'blend'"),
            (dict(alpha=-1), ValueError, r"alpha must be a finite number > 0, got -1\.0"),
            (dict(mode="pixel"), ValueError, r"mode must be one of 'batch', 'elem', got 'pixel'"),
            (dict(dims=4), ValueError, r"dims must be 1, 2 or 3"),
        ],
    )
    def test_errors(self, kw, exc, msg):
        with pytest.raises(exc, match=msg):
            MixSpec(**kw)

    def test_the_switch_picks_the_kind_and_its_alpha_explicitly(self):
        spec = MixSpec("cutmix_or_mixup", alpha=0.5, switch=(0.3, 2.0), mode="elem")
        g = _gen(5)
        kinds = [spec.draw(400, (6, 6), generator=g).kind for _ in range(300)]
        assert set(kinds) == {"cutmix", "mixup"} and 60 < kinds.count("cutmix") < 120  # about 0.3 * 300
        assert spec.kind == "cutmix_or_mixup" and spec.alpha == 0.5  # the spec itself is never overridden
        always = MixSpec("cutmix_or_mixup", switch=(1.0, 2.0))
        assert all(always.draw(4, (6, 6)).kind == "cutmix" for _ in range(20))

    def test_draw_checks_its_arguments(self):
        spec = MixSpec(dims=1)
        with pytest.raises(ValueError, match=r"batch_size must be an int >= 1, got 0"):
            spec.draw(0, (5,))
        with pytest.raises(ValueError, match=r"sizes must hold one size per axis the box spans, T for dims=1, got 5 \(int\)"):
            spec.draw(3, 5)
        with pytest.raises(TypeError, match=r"generator must be a torch\.Generator or None, got 0 \(int\)"):
            spec.draw(3, (5,), generator=0)
        with pytest.raises(ValueError, match=r"rank must be \(rank, world_size\) with 0 <= rank < world_size, got \(2, 2\)"):
            spec.draw(3, (5,), rank=(2, 2))

    def test_explicit_rank_draws_that_ranks_stream(self):
        torch.manual_seed(0)
        a = MixSpec(mode="elem").draw(16, (8, 8), rank=(1, 2))
        torch.manual_seed(0)
        b = MixSpec(mode="elem").draw(16, (8, 8), rank=(1, 2))
        torch.manual_seed(0)
        c = MixSpec(mode="elem").draw(16, (8, 8), rank=(0, 2))
        assert torch.equal(a.index, b.index) and torch.equal(a.lam, b.lam)
        assert not torch.equal(a.lam, c.lam)


class TestCollatorsHoldASpec:
    def test_specs(self):
        assert CutMixCollator(0.5, mode="elem", dims=3).spec == MixSpec("cutmix", 0.5, 1.0, "elem", 3)
        assert MixUpCollator(0.2, prob=0.5).spec == MixSpec("mixup", 0.2, 0.5)
        switch = CutMixOrMixUpCollator(0.7, 0.3, switch_prob=0.4, dims=1)
        assert switch.spec == MixSpec("cutmix_or_mixup", 0.7, dims=1, switch=(0.4, 0.3))
        assert (switch.cutmix_alpha, switch.mixup_alpha, switch.switch_prob, switch.alpha) == (0.7, 0.3, 0.4, 0.7)

    def test_spec_is_read_only(self):
        collate = CutMixCollator()
        with pytest.raises(AttributeError, match="spec of CutMixCollator is read-only after construction"):
            collate.spec = MixSpec(alpha=2.0)
        with pytest.raises(AttributeError, match="dims of CutMixCollator is read-only after construction"):
            collate.dims = 3

    def test_params_from_a_drawn_batch_are_a_mixparams(self):
        params = draw_params(3, 4, 4)
        assert isinstance(params, MixParams) and params.sizes == (4, 4) and len(params.box) == 4
