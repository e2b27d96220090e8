import os
import sys

import pytest
import torch

# tests/ on sys.path so test modules can `import reference` (naive reference
# implementations, one module per family under tests/reference/).
sys.path.insert(0, os.path.dirname(__file__))

# Two cores: keep intra-op threads from oversubscribing when pytest runs alone.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(0)
