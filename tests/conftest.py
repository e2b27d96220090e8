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


# Test files written in the first session whose run to completion on CI hardware
# (2 slow cores) is still pending. They are deselected from the default run by the
# `pending` marker and run with `pytest -m pending tests` (or `make test-all`).
# Remove a file from this set once it has passed in full and fits the time budget.
PENDING_FILES = {
    "test_analysis.py",
    "test_catalogue.py",
    "test_fenchel_young.py",
    "test_gallery.py",
    "test_links.py",
    "test_matching.py",
    "test_pols.py",
    "test_ranking.py",
    "test_sampled.py",
    "test_single_logit.py",
    "test_slc_lab.py",
    "test_slc_metrics.py",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in PENDING_FILES:
            item.add_marker(pytest.mark.pending)
