"""CutMix end to end on bundled data: ``python -m cutmix_collate.demo`` (or ``cutmix-demo``).

Trains the same small CNN twice with the same seed, on the same data, with the same optimiser:

* ``baseline``: ``default_collate`` and the plain loss (cross-entropy by default);
* ``cutmix``: :class:`~cutmix_collate.CutMixCollator` as the DataLoader's ``collate_fn`` (in
  ``--workers`` worker processes) and the loss wrapped in :class:`~cutmix_collate.CutMixCriterion`.

Both are evaluated after every epoch on a held-out split with
:class:`~cutmix_collate.metrics.MixedMetrics` (plain labels there: the eval-script pattern). After
training, both are put to the CutMix paper's three claims (Yun et al., ICCV 2019), with fixed seeds
so that every run and seed is scored on the same images:

* **accuracy** on the clean split, with the expected calibration error (15 bins);
* **robustness to corruptions** (:mod:`~cutmix_collate.demo.corruptions`): accuracy under Gaussian
  noise, Gaussian blur, lower contrast, and a box set to the mean (**occluded**) or filled from a
  test image of another class (**pasted**), three severities each (:func:`corrupt_all`);
* **out-of-distribution detection** (:mod:`~cutmix_collate.demo.ood`): the AUROC of the maximum
  softmax probability of the test images against inverted digits and noise images
  (:func:`far_ood_sets`), and against classes held out of training with ``--ood-classes 8 9``.

``--seeds 0 1 2`` repeats everything for several seeds and reports the mean and spread. The demo
prints a per-epoch table and a side-by-side summary whose last sentences say where each run is
ahead, and writes, into ``--out``:

* ``mixed_batch.png``: a batch as the collator mixes it: sources, partners (the region cut out
  outlined) and mixed images (the pasted region outlined, ``lam`` written above);
* ``curves.png``: loss, accuracy and F1 per epoch for both runs (mean over the seeds);
* ``robustness.png``: accuracy against severity for each corruption, the OOD AUROC of each set
  and the calibration error, both runs side by side;
* ``occlusions.png``: a few test images, clean, occluded and pasted, with both runs' predictions;
* ``corruptions.png``: one test image under every corruption and severity, and OOD images;
* ``metrics.json``: the configuration, per-epoch rows, the final scores of every seed, the summary,
  machine info and wall time.

The modules: ``cli`` (arguments and the course of a run), ``data``, ``corruptions``, ``ood``,
``train`` (model, training loop, evaluation), ``report`` (the summary and its verdict), ``plots``.

Under ``torchrun --standalone --nproc-per-node 2 -m cutmix_collate.demo`` each process trains with
``DistributedDataParallel`` (gloo on CPU, nccl with ``--device cuda``) and a ``DistributedSampler``;
the collator runs in each rank's DataLoader workers, and the metrics are summed over the ranks, so
they are those of the whole epoch and the whole test split. Only rank 0 prints and writes files.

Data: scikit-learn's bundled digits (1,797 real 8x8 images, no download), upsampled to
``--image-size`` (32) so that boxes are meaningful, split 70/30 with a fixed seed (the split does
not depend on ``--seed``). ``--data-dir`` trains on your own ``torchvision.datasets.ImageFolder``
tree instead (one folder per class), resized to ``--image-size`` (64 by default).
"""

from .cli import build_parser, main
from .corruptions import (CORRUPTIONS, SEVERITIES, corrupt_all, gaussian_blur, gaussian_noise, occlude,
                          reduce_contrast)
from .data import hold_out_classes, load_digits_data, load_folder_data
from .ood import far_ood_sets, invert, max_softmax, msp_auroc, noise_images
from .train import SmallCNN

__all__ = ["CORRUPTIONS", "SEVERITIES", "SmallCNN", "build_parser", "corrupt_all", "far_ood_sets", "gaussian_blur",
           "gaussian_noise", "hold_out_classes", "invert", "load_digits_data", "load_folder_data", "main",
           "max_softmax", "msp_auroc", "noise_images", "occlude", "reduce_contrast"]
