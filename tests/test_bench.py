"""``losslab bench``: every registered loss has a peer that computes the same thing,
and the command reports what it could not measure instead of crashing.

The equality of values (and gradients) between each loss and each of its peers is
the part that makes the benchmark's ratios mean anything; it is checked here in
float64 at a tiny size. Nothing here times anything.
"""
from __future__ import annotations

import json
import math

import pytest
import torch

from losslab import cli, registry
from losslab.experiments import bench, bench_peers

ALL_CASES = {**bench_peers.CASES, **{name: make for name, (_, make) in bench_peers.VARIANTS.items()}}


def _case(name, dtype=torch.float64):
    return ALL_CASES[name](bench.TINY, dtype, torch.Generator().manual_seed(0))


def _value_and_grads(fn, inputs):
    leaves = [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad]
    value = fn(*inputs)
    grads = torch.autograd.grad(value, leaves)
    return value.detach(), grads


def test_every_registered_loss_has_a_case():
    missing = sorted(set(registry.names()) - set(bench_peers.CASES))
    assert not missing, f"registered losses without a benchmark case: {missing}"
    for name, (base, _) in bench_peers.VARIANTS.items():
        assert base in registry.names(), (name, base)


@pytest.mark.parametrize("name", sorted(ALL_CASES))
def test_peers_compute_the_loss_value_and_gradient(name):
    case = _case(name)
    value, grads = _value_and_grads(case.loss, case.inputs)
    assert value.dim() == 0 and math.isfinite(float(value))
    checked = 0
    for peer, fn in case.peers.items():
        if isinstance(fn, str):
            assert fn.startswith("skipped: ") and "pip install" in fn, (peer, fn)
            continue
        pv, pg = _value_and_grads(fn, case.inputs)
        torch.testing.assert_close(pv, value, rtol=1e-9, atol=1e-12, msg=f"{name}: {peer} value")
        for a, b in zip(pg, grads):
            torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-10, msg=f"{name}: {peer} gradient")
        checked += 1
    assert checked >= 1, f"{name}: no peer ran ({case.peers})"


def test_plan_covers_every_registered_loss_and_sizes():
    rows = bench.plan()
    assert {r[1] for r in rows} == set(registry.names())
    sizes = {(r[0], r[3]) for r in rows}
    assert ("cross_entropy", (4096, 1000)) in sizes and ("cross_entropy", (1024, 32768)) in sizes
    assert ("sparsemax_loss", (256, 32768)) in sizes and ("listnet", (1024, 128)) in sizes
    assert ("nt_xent", (4096, 256)) in sizes and ("mse", (10**7,)) in sizes
    assert ("matching_loss[quadrature]", (10**7,)) in sizes
    only = bench.plan(families=["ranking"], losses=["listnet"], sizes=[bench.TINY])
    assert only == [("listnet", "listnet", "ranking", bench.TINY)]


@pytest.mark.parametrize(("text", "shape"), [("4096x1000", (4096, 1000)), ("1e7", (10**7,)), ("10000000", (10**7,)),
                                             ("tiny", bench.TINY), (" 256X32768 ", (256, 32768))])
def test_parse_size(text, shape):
    assert bench.parse_size(text) == shape


@pytest.mark.parametrize("text", ["abc", "0x5", "4096x", "x", "1x2x3", "1.5e0", "-3", "", "inf"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError, match="size|dimension"):
        bench.parse_size(text)


def test_peak_allocated_bytes_sees_a_freed_temporary():
    """A forward that allocates and frees 1 MB: the peak includes it though nothing is left."""
    n = 250_000

    class Temp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            tmp = torch.ones(n, dtype=torch.float32)  # 1,000,000 bytes, freed before returning
            out = x.sum() + tmp[0] * 0
            del tmp
            return out

        @staticmethod
        def backward(ctx, g):
            return g.expand(8)

    x = torch.zeros(8, requires_grad=True)
    peak = bench.peak_allocated_bytes(Temp.apply, (x,))
    assert 4 * n <= peak <= 4 * n + 4096, peak
    assert x.grad is None


def _run(names, **kw):
    return bench.run_bench(losses=names, sizes=[bench.TINY], rounds=1, progress=False, log=None, **kw)


def test_a_raising_peer_is_reported_failed(monkeypatch):
    base = bench_peers.CASES["mse"]

    def with_raising_peer(shape, dtype, g):
        case = base(shape, dtype, g)

        def greedy(p, t):
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 549621596160 bytes")

        case.peers["greedy"] = greedy
        return case

    monkeypatch.setitem(bench_peers.CASES, "mse", with_raising_peer)
    (row,) = _run(["mse"])["rows"]
    assert row["peers"]["greedy"]["status"].startswith("failed: RuntimeError: DefaultCPUAllocator")
    assert row["status"] == "ok" and row["fastest_peer"] == "F.mse_loss"
    assert row["time_ratio"] > 0 and row["memory_ratio"] > 0
    assert "failed: RuntimeError" in bench._table_line(row)


def test_a_peer_with_another_value_is_left_out(monkeypatch):
    base = bench_peers.CASES["mae"]

    def with_wrong_peer(shape, dtype, g):
        case = base(shape, dtype, g)
        case.peers["wrong"] = lambda p, t: 1.1 * torch.nn.functional.l1_loss(p, t)
        return case

    monkeypatch.setitem(bench_peers.CASES, "mae", with_wrong_peer)
    (row,) = _run(["mae"])["rows"]
    assert row["peers"]["wrong"]["status"].startswith("mismatch: ")
    assert "ratio" not in row["peers"]["wrong"] and row["fastest_peer"] == "F.l1_loss"


def test_missing_packages_are_skipped_and_said(monkeypatch):
    monkeypatch.setattr(bench_peers, "_package", lambda module: None)
    rows = {r["loss"]: r for r in _run(["nt_xent", "sparsemax_loss"])["rows"]}
    pml = rows["nt_xent"]["peers"]["pytorch_metric_learning.NTXentLoss"]["status"]
    assert pml.startswith("skipped: pytorch-metric-learning is not installed")
    assert rows["nt_xent"]["fastest_peer"] == "plain"
    sparse = rows["sparsemax_loss"]
    assert all(p["status"].startswith("skipped: the entmax package") for p in sparse["peers"].values())
    assert sparse["status"].startswith("no peer: ") and "time_ratio" not in sparse


def test_a_loss_without_a_case_is_listed_with_a_reason(monkeypatch):
    spec = registry.get("mse")
    monkeypatch.setitem(registry._REGISTRY, "zz_new_loss", registry.LossSpec(
        "zz_new_loss", spec.fn, "regression", spec.domain, spec.sample))
    (row,) = _run(["zz_new_loss"])["rows"]
    assert row["status"].startswith("no peer: no benchmark case")


def test_each_finished_row_is_handed_on():
    seen = []
    result = _run(["mse", "mae"], on_row=lambda r: seen.append([row["loss"] for row in r["rows"]]))
    assert seen == [["mae"], ["mae", "mse"]] and len(result["rows"]) == 2  # registry order


def test_a_row_loss_given_one_number_is_skipped():
    (row,) = bench.run_bench(losses=["listnet"], sizes=[(48,)], rounds=1, progress=False, log=None)["rows"]
    assert row["status"].startswith("skipped: size 48 gives no BxK")


def test_command_writes_json_markdown_and_png(tmp_path, capsys):
    rc = cli.main(["bench", "--loss", "listnet,huber", "--size", "tiny", "--rounds", "2", "--no-progress",
                   "--out", str(tmp_path)])
    assert rc == 0
    out = tmp_path / "bench"
    result = json.loads((out / "bench.json").read_text())
    assert [r["loss"] for r in result["rows"]] == ["listnet", "huber"]
    for r in result["rows"]:
        assert r["status"] == "ok" and r["size"] == "8x6"
        assert r["time_ratio_min"] <= r["time_ratio"] <= r["time_ratio_max"]
        assert r["peak_bytes"] > 0
    assert result["rounds"] == 2 and result["machine"]["logical_cpus"] >= 1
    md = (out / "bench.md").read_text()
    assert "`listnet`" in md and "`huber`" in md and "F.huber_loss" in md and "bench.png" in md
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "bench.partial.json").exists()
    printed = capsys.readouterr().out
    assert "| ranking | `listnet` | 8x6 |" in printed


def test_without_matplotlib_json_and_markdown_are_still_written(tmp_path, capsys, monkeypatch):
    from losslab.experiments import _common

    monkeypatch.setattr(_common, "matplotlib_available", lambda: False)
    rc = cli.main(["bench", "--loss", "mae", "--size", "tiny", "--rounds", "1", "--no-progress", "--out", str(tmp_path)])
    assert rc == 0
    out = tmp_path / "bench"
    assert (out / "bench.json").exists() and (out / "bench.md").exists() and not (out / "bench.png").exists()
    assert "bench.png" not in (out / "bench.md").read_text()
    assert "matplotlib is not installed" in capsys.readouterr().err
