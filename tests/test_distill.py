"""``losslab distill``: the agreement metrics against naive references, properness of
every loss on a teacher the student can represent, and the command's outputs."""
from __future__ import annotations

import json

import pytest
import torch

from losslab.experiments import distill


def test_teacher_grades_give_ten_to_the_top_item_down_to_one():
    t = torch.tensor([[0.3, 2.0, -1.0, 5.0, 1.0]])
    torch.testing.assert_close(distill.teacher_grades(t, top=3), torch.tensor([[0.0, 2.0, 0.0, 3.0, 1.0]]))


def test_agreement_matches_naive_set_overlaps_and_sklearn_ndcg():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(0)
    teacher = torch.randn(40, 30, generator=g, dtype=torch.float64)
    student = teacher + 0.7 * torch.randn(40, 30, generator=g, dtype=torch.float64)
    got = distill.agreement(student, teacher)
    rows = list(zip(student.tolist(), teacher.tolist()))

    def top(v, k):
        return set(sorted(range(len(v)), key=lambda i: -v[i])[:k])

    assert got["top1"] == pytest.approx(sum(top(s, 1) == top(t, 1) for s, t in rows) / len(rows))
    for k in (5, 10):
        assert got[f"top{k}"] == pytest.approx(sum(len(top(s, k) & top(t, k)) for s, t in rows) / (k * len(rows)))
    grades = distill.teacher_grades(teacher).numpy()
    assert got["ndcg@10"] == pytest.approx(sklearn_metrics.ndcg_score(grades, student.numpy(), k=10), rel=1e-9)


@pytest.mark.parametrize("name", distill.LOSSES)
def test_every_loss_recovers_a_teacher_the_student_can_represent(name):
    """All the losses are proper (minimised by the teacher's scores), so a linear teacher
    is learned by the linear student: its top items agree on held-out inputs."""
    g = torch.Generator().manual_seed(1)
    w = torch.randn(8, 20, generator=g)
    x = torch.randn(600, 8, generator=g)
    t = x @ (w - w.mean(1, keepdim=True))  # centred rows, linear in x
    t = t * (2.0 / t.std())  # one global factor keeps it linear
    task = {"x_train": x[:500], "t_train": t[:500]}
    fn = distill._losses()[name][1]
    ws, bs, diverged = distill.train_student(fn, task, lr=0.05, steps=400, seed=0)
    assert not diverged
    # near the minimum, which a proper loss attains at the teacher's own scores
    excess = float(fn(x[:500] @ ws + bs, t[:500]) - fn(t[:500], t[:500]))
    assert -1e-5 <= excess < 2e-2, excess
    got = distill.agreement(x[500:] @ ws + bs, t[500:])
    assert got["top1"] >= 0.9 and got["ndcg@10"] >= 0.95, got


def test_distill_command_writes_report_and_paired_differences(tmp_path):
    from losslab.cli import main

    out = tmp_path / "report"
    rc = main(["distill", "--seeds", "2", "--steps", "3", "--train", "40", "--classes", "12", "--lrs", "0.1",
               "--losses", "kl,selective_exp", "--no-progress", "--out", str(out)])
    assert rc == 0
    res = json.loads((out / "distill" / "distill.json").read_text())
    assert set(res["summary"]) == {"kl", "selective_exp"}
    for m in distill.METRICS:
        diffs = [a[m] - b[m] for a, b in zip(res["per_seed"]["selective_exp"], res["per_seed"]["kl"])]
        assert res["vs_kl"]["selective_exp"][m]["mean"] == pytest.approx(sum(diffs) / 2)
    md = (out / "distill" / "distill.md").read_text()
    assert "Paired against `kl`" in md
    assert (out / "distill" / "distill.png").is_file()
