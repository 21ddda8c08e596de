"""Shared fixtures: every test starts and ends with the same global random state.

Shared helpers (the CUDA skip marker, ``scale_for``, ``SharedProbe``) live in ``tests/_helpers.py``;
the ``slow`` marker is registered in ``pyproject.toml`` (``pytest -m "not slow"`` skips the torchrun,
notebook, demo and spawn-worker tests).
"""

import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _restore_random_state():
    """Restore torch, numpy and ``random`` state after each test, so tests cannot leak seeds."""
    torch_state = torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    numpy_state = np.random.get_state()
    python_state = random.getstate()
    yield
    torch.set_rng_state(torch_state)
    if cuda_states is not None:
        torch.cuda.set_rng_state_all(cuda_states)
    np.random.set_state(numpy_state)
    random.setstate(python_state)
