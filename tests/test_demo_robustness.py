"""The demo's corruptions and OOD sets (``cutmix_collate.demo``): each does what it says, on small data.

References: scipy's ``gaussian_filter`` for the blur, a rule written out here (the share of
(in, out) pairs ranked the right way) and scikit-learn for the AUROC, ``torch.softmax`` for the score.
"""

from __future__ import annotations

import argparse
import dataclasses

import pytest
import torch

from cutmix_collate.demo import (
    CORRUPTIONS,
    SEVERITIES,
    SmallCNN,
    corrupt_all,
    far_ood_sets,
    gaussian_blur,
    gaussian_noise,
    hold_out_classes,
    invert,
    load_digits_data,
    max_softmax,
    msp_auroc,
    noise_images,
    reduce_contrast,
)

RANGE = (-0.5, 2.0)


def _images(n=6, channels=2, size=16, seed=0):
    """Smooth random images in RANGE: blobs, so that blur and contrast have something to act on."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, channels, 4, 4, generator=g)
    images = torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    return RANGE[0] + images * (RANGE[1] - RANGE[0])


def _total_variation(images):
    return ((images[..., 1:, :] - images[..., :-1, :]).abs().sum() + (images[..., 1:] - images[..., :-1]).abs().sum())


class TestGaussianNoise:
    def test_in_range_not_modifying_and_repeatable(self):
        images = _images()
        before = images.clone()
        out = gaussian_noise(images, 0.3, value_range=RANGE, seed=4)
        assert torch.equal(images, before)
        assert out.shape == images.shape and out.dtype == images.dtype
        assert out.min() >= RANGE[0] and out.max() <= RANGE[1]
        assert torch.equal(out, gaussian_noise(images, 0.3, value_range=RANGE, seed=4))
        assert not torch.equal(out, gaussian_noise(images, 0.3, value_range=RANGE, seed=5))

    def test_standard_deviation_is_a_share_of_the_range(self):
        images = torch.zeros(20, 1, 32, 32)
        out = gaussian_noise(images, 0.01, value_range=(-50.0, 50.0))  # no clipping: std 1
        assert (out - images).std().item() == pytest.approx(1.0, rel=0.03)
        assert (out - images).mean().item() == pytest.approx(0.0, abs=0.03)

    def test_severities_move_further_from_the_clean_images(self):
        images = _images(n=20)
        distance = [(gaussian_noise(images, s, value_range=RANGE) - images).abs().mean().item()
                    for s in SEVERITIES["noise"]]
        assert distance == sorted(distance) and distance[0] > 0


class TestGaussianBlur:
    @pytest.mark.parametrize("sigma", [1.0, 1.5, 2.0, 3.0])
    def test_matches_scipy_gaussian_filter(self, sigma):
        from scipy.ndimage import gaussian_filter

        images = _images(n=3, size=20).double()
        out = gaussian_blur(images, sigma)
        # scipy: the same truncation (3 sigma) and border (nearest = replicate), not across images/channels
        want = gaussian_filter(images.numpy(), sigma=(0, 0, sigma, sigma), mode="nearest", truncate=3.0)
        assert torch.allclose(out, torch.from_numpy(want), atol=1e-12)

    def test_constant_stays_constant_and_values_stay_in_each_image_range(self):
        assert torch.allclose(gaussian_blur(torch.full((2, 3, 9, 9), 0.7), 2.0), torch.full((2, 3, 9, 9), 0.7))
        images = _images()
        out = gaussian_blur(images, 2.0)
        assert (out.amin((2, 3)) >= images.amin((2, 3)) - 1e-6).all()
        assert (out.amax((2, 3)) <= images.amax((2, 3)) + 1e-6).all()

    def test_severities_smooth_more(self):
        images = _images(n=10)
        variation = [_total_variation(gaussian_blur(images, s)).item() for s in SEVERITIES["blur"]]
        assert _total_variation(images).item() > variation[0] > variation[1] > variation[2]


class TestReduceContrast:
    @pytest.mark.parametrize("factor", [1.0, 0.5, 0.1])
    def test_mean_kept_std_scaled(self, factor):
        images = _images()
        out = reduce_contrast(images, factor)
        assert torch.allclose(out.mean((2, 3)), images.mean((2, 3)), atol=1e-6)
        assert torch.allclose(out.std((2, 3)), factor * images.std((2, 3)), atol=1e-6)
        assert (out.amin((2, 3)) >= images.amin((2, 3)) - 1e-6).all()
        assert (out.amax((2, 3)) <= images.amax((2, 3)) + 1e-6).all()

    def test_severities_keep_less_contrast(self):
        assert list(SEVERITIES["contrast"]) == sorted(SEVERITIES["contrast"], reverse=True)
        images = _images()
        spread = [reduce_contrast(images, s).std().item() for s in SEVERITIES["contrast"]]
        assert images.std().item() > spread[0] > spread[1] > spread[2]


class TestCorruptAll:
    def test_every_corruption_at_three_severities(self):
        images, labels = _images(n=12), torch.arange(12) % 3
        before = images.clone()
        sets = corrupt_all(images, labels, value_range=RANGE, fill=torch.tensor([0.1, 0.2]))
        assert torch.equal(images, before)
        assert tuple(sets) == CORRUPTIONS == ("noise", "blur", "contrast", "occluded", "pasted")
        for name, copies in sets.items():
            assert len(copies) == 3
            distance = [(copy - images).abs().mean().item() for copy in copies]
            assert 0 < distance[0] < distance[1] < distance[2], name  # each severity is further away
            for copy in copies:
                assert copy.shape == images.shape
                assert copy.min() >= RANGE[0] - 1e-6 and copy.max() <= RANGE[1] + 1e-6
        # The occluded boxes cover 1/16, 1/4 and 9/16 of each image (16x16: 4x4, 8x8 and 12x12 boxes).
        for copy, side in zip(sets["occluded"], (4, 8, 12)):
            changed = (copy == torch.tensor([0.1, 0.2]).view(1, 2, 1, 1)).all(1)
            assert changed.sum((1, 2)).tolist() == [side * side] * 12
        # The blur scales with the image side: sigma 2 px at 64x64 for severity 1.
        big = _images(n=2, size=64)
        assert torch.equal(corrupt_all(big, torch.tensor([0, 1]), value_range=RANGE)["blur"][0],
                           gaussian_blur(big, 2.0))

    @pytest.mark.parametrize(
        "call, error, message",
        [
            (lambda: gaussian_noise(torch.zeros(2, 1, 4, 4), 0, value_range=RANGE), ValueError,
             r"std must be a finite number > 0, got 0 \(int\)"),
            (lambda: gaussian_noise(torch.zeros(2, 1, 4, 4), 0.1, value_range=(1, 1)), ValueError,
             r"value_range must have low < high, got \(1.0, 1.0\)"),
            (lambda: gaussian_noise(torch.zeros(2, 1, 4, 4), 0.1, value_range=3), ValueError,
             r"value_range must be two numbers \(low, high\), got 3 \(int\)"),
            (lambda: gaussian_blur(torch.zeros(2, 4, 4), 1.0), TypeError,
             r"images must be a floating-point tensor \(N, C, H, W\), got a tensor of shape \(2, 4, 4\)"),
            (lambda: gaussian_blur(torch.zeros(2, 1, 4, 4), float("inf")), ValueError,
             "sigma must be a finite number > 0, got inf"),
            (lambda: reduce_contrast(torch.zeros(2, 1, 4, 4), 1.5), ValueError,
             r"factor must be a number in \(0, 1\], got 1.5 \(float\)"),
            (lambda: reduce_contrast(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), 0.5), TypeError,
             "images must be a floating-point tensor"),
        ],
    )
    def test_errors(self, call, error, message):
        with pytest.raises(error, match=message):
            call()


def _pairwise_auroc(in_scores, out_scores):
    """The AUROC as a rule: the share of (in, out) pairs where the in-distribution image scores higher,
    ties counting one half."""
    diff = in_scores[:, None] - out_scores[None, :]
    return ((diff > 0).double() + 0.5 * (diff == 0).double()).mean().item()


class TestOOD:
    def test_auroc_is_the_share_of_pairs_ranked_right(self):
        from sklearn.metrics import roc_auc_score

        g = torch.Generator().manual_seed(0)
        in_scores = torch.rand(50, generator=g, dtype=torch.float64) * 0.5 + 0.4
        out_scores = torch.rand(30, generator=g, dtype=torch.float64) * 0.5 + 0.2
        out_scores[:5] = in_scores[:5]  # ties count one half
        got = msp_auroc(in_scores, out_scores)
        assert got == pytest.approx(_pairwise_auroc(in_scores, out_scores), abs=1e-12)
        truth = [1] * 50 + [0] * 30
        assert got == pytest.approx(roc_auc_score(truth, torch.cat([in_scores, out_scores]).numpy()), abs=1e-12)
        assert 0.5 < got < 1.0

    def test_sign_convention_in_distribution_scores_high(self):
        high, low = torch.tensor([0.9, 0.95, 0.99]), torch.tensor([0.3, 0.5])
        assert msp_auroc(high, low) == 1.0  # the test images are more confident: perfect detection
        assert msp_auroc(low, high) == 0.0  # the other images look more familiar than the test images
        assert msp_auroc(high, high) == 0.5

    def test_set_errors(self):
        with pytest.raises(TypeError, match=r"images must be a floating-point tensor \(N, C, H, W\), got a tensor"):
            invert(torch.zeros(3, 8, 8), value_range=RANGE)
        with pytest.raises(TypeError, match="images must be a floating-point tensor"):
            noise_images(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), value_range=RANGE)
        with pytest.raises(ValueError, match=r"value_range must have low < high, got \(2.0, 1.0\)"):
            far_ood_sets(_images(), value_range=(2, 1))

    def test_auroc_errors(self):
        with pytest.raises(ValueError, match=r"non-empty 1-d tensors, got shapes \(0,\) and \(2,\)"):
            msp_auroc(torch.zeros(0), torch.zeros(2))
        with pytest.raises(ValueError, match=r"non-empty 1-d tensors, got shapes \(2, 1\) and \(2,\)"):
            msp_auroc(torch.zeros(2, 1), torch.zeros(2))

    def test_max_softmax_is_the_top_softmax_probability(self):
        torch.manual_seed(0)
        model = SmallCNN(1, 5, width=4)
        images = torch.randn(300, 1, 12, 12)  # batches of 256 and 44
        got = max_softmax(model, images, torch.device("cpu"))
        with torch.no_grad():
            want = torch.softmax(model.eval()(images).double(), 1).max(1).values
        assert got.dtype == torch.float64 and got.shape == (300,)
        assert torch.allclose(got, want, atol=1e-12)

    def test_invert_mirrors_the_range(self):
        images = _images()
        out = invert(images, value_range=RANGE)
        assert torch.allclose(out, RANGE[0] + RANGE[1] - images)
        assert torch.allclose(invert(out, value_range=RANGE), images, atol=1e-6)  # twice: the images again
        assert torch.equal(invert(torch.tensor([[[[RANGE[0], RANGE[1]]]]]), value_range=RANGE),
                           torch.tensor([[[[RANGE[1], RANGE[0]]]]]))
        assert out.min() >= RANGE[0] - 1e-6 and out.max() <= RANGE[1] + 1e-6

    def test_noise_images_have_the_data_statistics_and_no_shapes(self):
        g = torch.Generator().manual_seed(1)
        images = torch.stack([torch.randn(40, 16, 16, generator=g) * 0.5 + 3.0,
                              torch.randn(40, 16, 16, generator=g) * 2.0 - 1.0], 1)  # (40, 2, 16, 16)
        out = noise_images(images, value_range=(-100.0, 100.0))  # no clipping
        assert out.shape == images.shape
        assert torch.allclose(out.mean((0, 2, 3)), torch.tensor([3.0, -1.0]), atol=0.05)
        assert torch.allclose(out.std((0, 2, 3)), torch.tensor([0.5, 2.0]), rtol=0.03)
        assert torch.equal(out, noise_images(images, value_range=(-100.0, 100.0)))  # fixed seed
        clipped = noise_images(images, value_range=(0.0, 3.0))
        assert clipped.min() >= 0 and clipped.max() <= 3.0

    def test_far_ood_sets(self):
        images = _images()
        sets = far_ood_sets(images, value_range=RANGE)
        assert set(sets) == {"inverted", "noise"}
        assert torch.equal(sets["inverted"], invert(images, value_range=RANGE))
        assert torch.equal(sets["noise"], noise_images(images, value_range=RANGE))

    def test_a_model_that_knows_the_data_detects_inverted_digits(self):
        # A "model" whose confidence is the share of pixels near the background: high on digits
        # (mostly background), low on inverted digits (mostly foreground): AUROC 1 in this sign.
        data = load_digits_data()
        low, _ = data.value_range

        class Background(torch.nn.Module):
            def forward(self, x):
                share = (x < low + 0.5).float().mean((1, 2, 3))
                return torch.stack([10 * share, torch.zeros_like(share)], 1)

        sets = far_ood_sets(data.test_images, value_range=data.value_range)
        in_scores = max_softmax(Background(), data.test_images, torch.device("cpu"))
        assert msp_auroc(in_scores, max_softmax(Background(), sets["inverted"], torch.device("cpu"))) == 1.0


class TestHoldOutClasses:
    def test_digits_8_and_9(self):
        data = load_digits_data()
        parser = argparse.ArgumentParser()
        held = hold_out_classes(data, ["9", "8"], parser)
        assert held.classes == [str(c) for c in range(8)] and held.held_out == ("8", "9")
        keep = data.test_labels < 8
        assert torch.equal(held.test_images, data.test_images[keep])
        assert torch.equal(held.test_labels, data.test_labels[keep])  # 0-7 keep their numbers
        assert torch.equal(held.near_ood, data.test_images[~keep]) and len(held.near_ood) == 106  # 52 + 54
        labels = [label for _, label in held.train]
        assert labels == held.train_labels and set(labels) == set(range(8))
        assert len(labels) == sum(label < 8 for label in data.train_labels)
        assert data.near_ood is None and len(data.classes) == 10  # the original is untouched

    def test_renumbers_the_classes_left(self):
        data = load_digits_data()
        held = hold_out_classes(data, ["0", "5"])
        assert held.classes == ["1", "2", "3", "4", "6", "7", "8", "9"]
        old = data.test_labels[(data.test_labels != 0) & (data.test_labels != 5)]
        assert torch.equal(torch.tensor([int(held.classes[i]) for i in held.test_labels]), old)
        image, label = held.train[0]
        i = [j for j, y in enumerate(data.train_labels) if y not in (0, 5)][0]
        assert torch.equal(image, data.train[i][0]) and held.classes[label] == str(data.train_labels[i])

    def test_errors_without_a_parser(self):
        data = load_digits_data()
        with pytest.raises(ValueError, match="--ood-classes: unknown class '10'; the classes are 0 1 2"):
            hold_out_classes(data, ["10"])
        with pytest.raises(ValueError, match="must leave at least 2 classes to train on, got 1 of 10"):
            hold_out_classes(data, list("012345678"))
        tiny = dataclasses.replace(data, test_images=data.test_images[:3], test_labels=torch.tensor([0, 1, 1]))
        with pytest.raises(ValueError, match="--ood-classes 9: the held-out split needs images of them"):
            hold_out_classes(tiny, ["9"])
