"""Single-logit classification metrics (seed 001, Sect. 6) against scikit-learn."""
import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, precision_recall_curve

from losslab.metrics import all_logits_scores, average_precision, precision_at_recall, slc_report


def _sk_precision_at_recall(scores, targets, r):
    precision, recall, _ = precision_recall_curve(targets, scores)
    # drop sklearn's final (recall 0, precision 1) point; thresholds ascend, recall descends
    precision, recall = precision[:-1], recall[:-1]
    ok = np.nonzero(recall >= r - 1e-12)[0]
    return precision[ok[-1]]  # the highest threshold reaching recall r


CASES = []
_rng = np.random.default_rng(0)
for n, n_values in ((30, 5), (50, 50), (200, 7), (7, 2)):
    s = _rng.integers(0, n_values, size=n).astype(np.float64) / n_values  # many ties when n_values is small
    y = (_rng.random(n) < 0.4).astype(np.int64)
    y[0] = 1
    CASES.append((s, y))
CASES.append((np.array([0.5, 0.5, 0.5, 0.5]), np.array([1, 0, 1, 0])))  # all tied
CASES.append((np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])))  # sklearn's doc example


@pytest.mark.parametrize("s,y", CASES)
def test_average_precision_matches_sklearn_with_ties(s, y):
    ours = average_precision(torch.tensor(s), torch.tensor(y))
    assert ours == pytest.approx(average_precision_score(y, s), abs=1e-12)


@pytest.mark.parametrize("s,y", CASES)
@pytest.mark.parametrize("r", [0.5, 0.9, 0.99, 1.0])
def test_precision_at_recall_matches_sklearn_curve(s, y, r):
    ours = precision_at_recall(torch.tensor(s), torch.tensor(y), r)
    assert ours == pytest.approx(_sk_precision_at_recall(s, y, r), abs=1e-12)


def test_float32_scores_and_bool_targets():
    s = torch.tensor([0.3, 0.2, 0.2, 0.9], dtype=torch.float32)
    y = torch.tensor([True, False, True, False])
    assert average_precision(s, y) == pytest.approx(average_precision_score(y.numpy(), s.numpy()))


def test_metric_errors():
    s = torch.tensor([0.1, 0.2])
    with pytest.raises(ValueError, match="no positive"):
        average_precision(s, torch.tensor([0, 0]))
    with pytest.raises(ValueError, match="0/1"):
        average_precision(s, torch.tensor([0, 2]))
    with pytest.raises(TypeError, match="targets"):
        average_precision(s, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="same length"):
        average_precision(s, torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="finite"):
        average_precision(torch.tensor([float("nan"), 0.2]), torch.tensor([0, 1]))
    for bad in (0.0, 1.5, True):
        with pytest.raises(ValueError, match="recall"):
            precision_at_recall(s, torch.tensor([0, 1]), bad)


def test_slc_report_per_class_and_macro_against_sklearn():
    g = torch.Generator().manual_seed(0)
    N, K = 120, 4
    labels = torch.randint(0, K, (N,), generator=g)
    logits = torch.randn(N, K, generator=g) + 2.0 * torch.nn.functional.one_hot(labels, K)
    rep = slc_report(logits, labels)
    sm = slc_report(logits, labels, scores="softmax")
    probs = all_logits_scores(logits)
    for report, scores in ((rep, logits), (sm, probs)):
        per_class = [1 - average_precision_score((labels == k).numpy(), scores[:, k].numpy()) for k in range(K)]
        np.testing.assert_allclose(report.one_minus_auprc.numpy(), per_class, atol=1e-9)
        assert report.macro["1-AUPRC"] == pytest.approx(np.mean(per_class), abs=1e-9)
        p99 = [1 - _sk_precision_at_recall(scores[:, k].numpy(), (labels == k).numpy(), 0.99) for k in range(K)]
        assert report.macro["1-Precision@0.99"] == pytest.approx(np.mean(p99), abs=1e-9)
    assert set(rep.macro) == {"1-AUPRC", "1-Precision@0.9", "1-Precision@0.99"}
    assert rep.classes_evaluated == K and rep.scores == "logits" and sm.scores == "softmax"


def test_slc_report_skips_absent_classes_and_validates():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 2.0, -1.0], [1.5, 0.5, -1.0]])
    labels = torch.tensor([0, 1, 0])
    rep = slc_report(logits, labels)
    assert rep.classes_evaluated == 2 and torch.isnan(rep.one_minus_auprc[2])
    assert rep.macro["1-AUPRC"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="scores"):
        slc_report(logits, labels, scores="probs")
    with pytest.raises(ValueError, match="labels must lie"):
        slc_report(logits, torch.tensor([0, 1, 3]))
