import os
import sys

import pytest
import torch

# tests/ on sys.path so test modules can `import reference` (naive reference
# implementations, one module per family under tests/reference/).
sys.path.insert(0, os.path.dirname(__file__))

# Two cores: under pytest-xdist (`make test` runs two workers) each worker gets one
# intra-op thread; a lone pytest process gets two. Oversubscribing slows both.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(0)


@pytest.fixture(scope="module")
def built():
    """The fused CPU kernels' status; skips the test with the reason when they could not be built."""
    import losslab.kernels

    status = losslab.kernels.available()
    if not status.cpu:
        pytest.skip(f"fused CPU kernels not built: {status.reason}")
    return status
