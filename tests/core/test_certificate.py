"""The certified bound: exact checks of its guarantee on batches small enough to enumerate every draw."""
from __future__ import annotations

import numpy as np
import pytest

from modelpicker_core.certificate import Draw, GapCertificate, disagreement_counts, psi
from modelpicker_core.stopping import CertifiedStop, make_rule


def _q(unlabelled: np.ndarray, predictions: np.ndarray, tilt: np.ndarray) -> np.ndarray:
    """A draw distribution over the open items, tilted by a fixed vector (skewed on purpose)."""
    live = unlabelled & np.any(predictions != predictions[:, :1], axis=1)
    q = np.where(live, tilt, 0.0)
    return q / q.sum() if q.sum() > 0 else q


def _enumerate(predictions, labels, guess, tilt, delta, epsilon, horizon=None):
    """Exact probabilities over every draw sequence (of ``horizon`` draws, default all):
    ``(P(the pair's bound ever above the truth) per pair, P(the certified stop names a model more than
    epsilon below the best), P(reaching a state where the drawn-label bound beat the exact one))``."""
    n, k = predictions.shape
    right = (predictions == labels[:, None]).astype(float)
    tau = right.sum(0)[:, None] - right.sum(0)[None, :]
    acc = right.mean(0)
    rule = CertifiedStop(epsilon, delta)
    violated = np.zeros((k, k))
    wrong_stop = 0.0
    statistical = [0.0]   # probability of reaching a state where the drawn-label bound beat the exact one

    def walk(cert: GapCertificate, prob: float, broken: np.ndarray, stopped: bool):
        nonlocal wrong_stop
        broken = broken | (cert.lower > tau + 1e-9)
        if np.any(cert.lower > cert.known - cert.remaining + 1e-9):
            statistical[0] += prob
        if not stopped:
            decision = rule.decide(cert.gap(), np.ones(k) / k, int((~cert.unlabelled).sum()))
            if decision.stop:
                stopped = True
                if acc.max() - acc[decision.model] > epsilon + 1e-12:
                    wrong_stop += prob
        q = _q(cert.unlabelled, predictions, tilt)
        if q.sum() == 0 or (horizon is not None and (~cert.unlabelled).sum() >= horizon):
            violated[:] += prob * broken
            return
        live = q > 0
        total = guess[cert.unlabelled].sum(0)
        for i in np.flatnonzero(live):
            child = _copy(cert)
            child.observe(i, labels[i], Draw(q=float(q[i]), q_min=float(q[live].min()), guess=guess[i],
                                             guess_total=total))
            walk(child, prob * q[i], broken, stopped)

    walk(GapCertificate(predictions, delta), 1.0, np.zeros((k, k), dtype=bool), False)
    return violated, wrong_stop, statistical[0]


def _copy(cert: GapCertificate) -> GapCertificate:
    out = GapCertificate.__new__(GapCertificate)
    out.__dict__ = {key: (v.copy() if isinstance(v, np.ndarray) else v) for key, v in cert.__dict__.items()}
    return out


@pytest.mark.parametrize("seed", range(6))
def test_every_pairwise_bound_fails_with_probability_at_most_alpha_exactly(seed):
    """Enumerate every sequence of 3 draws from a 12-item batch (skewed q, wrong or random guesses):
    P(a bound is ever above the truth) <= alpha, exactly."""
    rng = np.random.default_rng(seed)
    n, k, c = 12, 2, 2
    labels = rng.integers(c, size=n)
    predictions = np.where(rng.random((n, k)) < 0.5, labels[:, None], 1 - labels[:, None])
    predictions[0] = [0, 1]                         # at least one open item
    wrong_guess = 1.0 - (predictions == labels[:, None]).astype(float)   # a guide that is always wrong
    guess = wrong_guess if seed % 2 else rng.random((n, k))
    tilt = rng.random(n) ** 2 + 0.05
    delta = 0.9                                     # large, so the drawn-label bound acts within 3 draws
    violated, _, statistical = _enumerate(predictions, labels, guess, tilt, delta, 0.0, horizon=3)
    alpha = delta / (k - 1)
    assert violated.max() <= alpha + 1e-9
    assert statistical > 0          # the drawn-label bound did act (the check is not about the exact part only)
    # and the exact part alone never lies
    cert = GapCertificate(predictions, delta)
    for i in range(n):
        cert.observe(i, labels[i])
    right = (predictions == labels[:, None]).sum(0)
    assert np.array_equal(cert.lower, right[:, None] - right[None, :])


@pytest.mark.parametrize("epsilon", [0.0, 0.1])
def test_the_certified_stop_is_wrong_with_probability_at_most_delta_exactly(epsilon):
    """A shared-failure batch (the majority wrong together, the best model a minority voter), a guide that
    believes the majority, q skewed away from the items that matter; every sequence of 3 draws enumerated."""
    labels = np.array([0, 0, 0, 1, 1, 1, 0, 1, 0, 1])
    best = labels.copy()
    best[[4, 8]] = 1 - best[[4, 8]]                              # model 0: 8 of 10 right
    shared = labels.copy()
    shared[[0, 1, 2]] = 1                                        # models 1, 2 wrong together on items 0-2
    second = shared.copy()
    second[9] = 0                                                # model 2: one more error
    predictions = np.column_stack([best, shared, second])        # accuracies 0.8, 0.7, 0.6
    guess = np.where(predictions == shared[:, None], 0.9, 0.1)   # the majority's view, wrong on items 0-2
    tilt = np.array([0.1, 0.1, 0.1, 1, 1, 1, 1, 1, 1, 1.0])
    delta = 0.9
    _, wrong, statistical = _enumerate(predictions, labels, guess, tilt, delta, epsilon, horizon=3)
    assert wrong <= delta + 1e-9
    assert statistical > 0


def test_exact_once_every_disagreement_is_labelled():
    preds = np.array([[0, 1], [1, 1], [0, 0], [1, 0]])
    labels = np.array([0, 1, 0, 1])
    cert = GapCertificate(preds, 0.05)
    assert not cert.exact()
    for i in (0, 3):
        cert.observe(i, labels[i])
    assert cert.exact()
    # model 0 right on both disagreements: model 1 is 2 of 4 items below, model 0 is at the top
    assert cert.gap().tolist() == [0.0, 0.5]


def test_fan_inequality_holds_on_a_grid():
    """log(1 + l x) >= l x - psi(l) x^2 for x >= -1, l in [0, 1): the step the bound rests on."""
    x = np.linspace(-1, 50, 2001)[:, None]
    lam = np.linspace(0, 0.99, 100)[None, :]
    assert np.all(np.log1p(lam * x) >= lam * x - psi(lam) * x ** 2 - 1e-12)


def test_observe_rejects_bad_input():
    cert = GapCertificate(np.array([[0, 1], [1, 1]]), 0.05)
    with pytest.raises(ValueError, match="outside the batch"):
        cert.observe(5, 0)
    cert.observe(0, 0)
    with pytest.raises(ValueError, match="already labelled"):
        cert.observe(0, 0)
    with pytest.raises(ValueError, match="q_min <= q"):
        cert.observe(1, 1, Draw(q=0.0, q_min=0.0, guess=np.zeros(2), guess_total=np.zeros(2)))
    with pytest.raises(ValueError, match="delta"):
        GapCertificate(np.zeros((2, 2), dtype=int), 1.0)


def test_disagreement_counts_match_a_direct_count():
    rng = np.random.default_rng(3)
    preds = rng.integers(4, size=(100, 5))
    direct = np.array([[np.sum(preds[:, a] != preds[:, b]) for b in range(5)] for a in range(5)])
    assert np.array_equal(disagreement_counts(preds, block=7), direct)


def test_make_rule_names_both_rules_and_rejects_others():
    assert make_rule("certified", epsilon=0.0).get_params()["rule"] == "certified"
    assert make_rule("belief").name == "belief"
    with pytest.raises(ValueError, match="unknown stopping rule"):
        make_rule("pbest")
    with pytest.raises(ValueError, match="epsilon"):
        CertifiedStop(-0.1)


def test_certified_stop_names_the_smallest_gap():
    rule = CertifiedStop(0.01, 0.05)
    d = rule.decide([0.3, 0.005, 0.02], [0.1, 0.2, 0.7], labels=12)
    assert (d.stop, d.model, d.reason, d.gap) == (True, 1, "certified", 0.005)
    d = rule.decide([0.3, 0.05, 0.02], [0.1, 0.2, 0.7], labels=12)
    assert (d.stop, d.model, d.reason) == (False, 2, "continue")
