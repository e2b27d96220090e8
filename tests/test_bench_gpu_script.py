"""benchmarks/gpu.py without a GPU: its argument checks, the no-CUDA exit and its --dry-run.

The dry run builds every case on the CPU and runs each eager method once; on this machine it
is the only way the script's plumbing (case construction, operator arguments) gets exercised.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def gpu():
    sys.path.insert(0, str(BENCH))
    try:
        import gpu as module
    finally:
        sys.path.remove(str(BENCH))
    return module


def test_dry_run_builds_every_case(gpu, capsys):
    assert gpu.main(["--dry-run", "--dry-run-size", "3x17", "--dry-run-elements", "40"]) == 0
    out = capsys.readouterr().out
    for name in gpu.CASES:
        assert f"dry run: {name} " in out, name
    assert f"built {len(gpu.CASES)} cases" in out


def test_case_floor_bytes(gpu):
    B, K, n = 3, 17, 40
    item = 8
    expected = {"cs_exp0.5": 3 * B * K * item, "ce_labels": 2 * B * K * item, "ce_probs": 3 * B * K * item,
                "match_tanh": 3 * n * item}
    for name, floor in expected.items():
        case = gpu.build_case(name, B, K, n, torch.float64, "cpu", compile_=False)
        assert case.floor_bytes == floor, name
        assert set(case.methods) == {"triton", "eager", "baseline"}, name


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device exists: the script would measure")
def test_no_cuda_says_so_and_exits_0(gpu, capsys):
    assert gpu.main(["--cases", "cs_exp0.5", "--rounds", "1"]) == 0
    assert "no CUDA device" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--sizes", "12"], ["--sizes", "0x5"], ["--cases", "cs_exp"], ["--rounds", "0"],
                                  ["--peak-gbps", "-1"], ["--dry-run-size", "4"]])
def test_bad_arguments_exit_2(gpu, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        gpu.main(argv)
    assert exc.value.code == 2
    assert "error: argument --" in capsys.readouterr().err
