"""CutMix end to end on bundled data: ``python -m cutmix_collate.demo`` (or ``cutmix-demo``).

Trains the same small CNN twice with the same seed, on the same data, with the same optimiser:

* ``baseline``: ``default_collate`` and the plain loss (cross-entropy by default);
* ``cutmix``: :class:`~cutmix_collate.CutMixCollator` as the DataLoader's ``collate_fn`` (in
  ``--workers`` worker processes) and the loss wrapped in :class:`~cutmix_collate.CutMixCriterion`.

Both are evaluated after every epoch on a held-out split with
:class:`~cutmix_collate.metrics.MixedMetrics` (plain labels there: the eval-script pattern). After
training, both are also scored on two occluded copies of the held-out split (:func:`occlude`, the
same boxes for both runs): **occluded**, a box of 25% of each image set to the data set's mean, and
**pasted**, the same kind of box filled with the same region of a test image of another class. The
expected calibration error (15 bins) on the clean split is reported too. ``--seeds 0 1 2`` repeats
everything for several seeds and reports the mean and spread. The demo prints a per-epoch table
and a side-by-side summary and writes, into ``--out``:

* ``mixed_batch.png``: a batch as the collator mixes it: sources, partners (the region cut out
  outlined) and mixed images (the pasted region outlined, ``lam`` written above);
* ``curves.png``: loss, accuracy and F1 per epoch for both runs (mean over the seeds);
* ``robustness.png``: clean, occluded and pasted test accuracy and the calibration error, side by side;
* ``occlusions.png``: a few test images, clean, occluded and pasted, with both runs' predictions;
* ``metrics.json``: the configuration, per-epoch rows, the final scores of every seed, the summary,
  machine info and wall time.

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
from .corruptions import CORRUPTIONS, SEVERITIES, corrupt_all, gaussian_blur, gaussian_noise, occlude, reduce_contrast
from .data import hold_out_classes, load_digits_data, load_folder_data
from .ood import far_ood_sets, invert, max_softmax, msp_auroc, noise_images
from .train import SmallCNN

__all__ = ["CORRUPTIONS", "SEVERITIES", "SmallCNN", "build_parser", "corrupt_all", "far_ood_sets", "gaussian_blur",
           "gaussian_noise", "hold_out_classes", "invert", "load_digits_data", "load_folder_data", "main",
           "max_softmax", "msp_auroc", "noise_images", "occlude", "reduce_contrast"]
