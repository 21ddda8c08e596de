#!/usr/bin/env bash
# The prepared GPU check (issue 14), for a session that is lent the accelerator machine. From the
# repository root there (the device tool's `run`): bash .ci/gpu-check.sh. That machine already has
# torch, torchvision, timm, scikit-learn, pytest, hypothesis and lightning; results land in $OUT.
# About 4 minutes: leave room in the 15 minutes of device time for one rerun.
set -o pipefail
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
export OUT=${OUT:-gpu-out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
# 1. every CUDA test (they skip on CPU machines): cutmix_batch, mixup_batch, the criterion, the
#    metrics under torch.cuda.set_sync_debug_mode("error")
timeout 300 python3 -m pytest -q -k "cuda or gpu" tests 2>&1 | tail -30 | tee "$OUT/cuda-tests.txt"
# 1b. no host synchronisation (issue 19): the whole no-sync file (meta tensors, then CUDA under
#     set_sync_debug_mode("error"), ranks 0/1/3, both modes, dims 1-3) and the multi-label CUDA check
timeout 200 python3 -m pytest -q tests/test_no_sync.py "tests/test_multilabel.py::test_cuda_matches_cpu_without_sync" 2>&1 | tail -15 | tee "$OUT/no-sync-tests.txt"
# 2. the GPU benchmark section (CUDA events): cutmix_batch batch/elem against a clone of a
#    256x3x224x224 batch (float32, bf16), torchvision's v2.CutMix and timm's Mixup
timeout 200 python3 -m cutmix_collate.benchmark --sections gpu --out "$OUT" 2>&1 | tail -30 | tee "$OUT/gpu-bench.txt"
# 3. CutMixCallback in a short Lightning run on the GPU (bf16-mixed), pictures to a PNG
timeout 120 python3 - <<'PY' 2>&1 | tail -15 | tee "$OUT/callback.txt"
import os, torch, lightning as L
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from cutmix_collate import CutMixCriterion
from cutmix_collate.lightning import CutMixCallback

class Net(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
        self.criterion = CutMixCriterion()
    def training_step(self, batch, batch_idx):
        images, target = batch
        loss = self.criterion(self(images), target)
        self.log("loss", loss)
        return loss
    def forward(self, x):
        return self.net(x)
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

data = TensorDataset(torch.rand(512, 3, 64, 64), torch.randint(0, 10, (512,)))
loader = DataLoader(data, batch_size=64, shuffle=True)
trainer = L.Trainer(accelerator="gpu", devices=1, precision="bf16-mixed", max_epochs=2, default_root_dir=os.path.join(os.environ["OUT"], "lightning"),
                    callbacks=[CutMixCallback(mode="elem", off_epoch=1, log_every_n_steps=4)], enable_progress_bar=False)
trainer.fit(Net(), loader)
print("callback run ok, loss", float(trainer.callback_metrics["loss"]))
PY
