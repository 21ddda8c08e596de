"""Benchmark: CutMix in a DataLoader against ``default_collate`` and the alternatives.

Run ``python -m cutmix_collate.benchmark`` (``--help`` for options). Four sections:

* ``collate``: DataLoader throughput end to end (iterate a fixed number of batches, touch each
  one), ``num_workers`` 0 and 2 with persistent workers, for 256x3x32x32 float32,
  64x3x224x224 float32 and 64x3x224x224 uint8, on three datasets: ``memory`` (stored tensors: the
  collate cost fully visible), ``augmented`` (random crop and flip of a uint8 array) and
  ``realistic`` (the ImageNet recipe: JPEG bytes decoded per sample, ``RandomResizedCrop``, flip,
  float32 normalise; needs torchvision). Variants run interleaved in each repetition; the ratio to
  ``default_collate`` is taken within a repetition and reported as the median with its min-max.
* ``calltime``: the collate call itself, timed inside one DataLoader worker (the worker times the
  call and returns the time with the batch; one worker on 2 cores leaves the main process idle, so
  the figures are far steadier than throughput): ms per batch, median and min-max, and the extra
  ms over ``default_collate``, for every collator in each configuration and dataset.
* ``metrics``: ``MixedMetrics.update`` against scikit-learn's ``f1_score`` on one batch.
* ``gpu`` (``--device cuda``): :func:`cutmix_batch` against a ``clone()`` of the batch (the copy
  floor), torchvision's ``v2.CutMix`` and timm's ``Mixup``, timed with CUDA events.

Results are printed as tables and written to ``<out>/benchmark.json`` (and ``benchmark.png``
with ``--plot``). torchvision and timm rows are skipped, with a note, when not installed.
"""

from .cli import main
from .gpu import run_gpu_benchmark
from .loader import run_calltime_benchmark, run_collate_benchmark
from .metrics_section import run_metrics_benchmark

__all__ = ["main", "run_calltime_benchmark", "run_collate_benchmark", "run_metrics_benchmark",
           "run_gpu_benchmark"]
