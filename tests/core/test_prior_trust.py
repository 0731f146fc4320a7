"""Learned trust in the consensus prior (certified, ``prior_trust="learned"``): it falls when the consensus'
labels are wrong, rises when they are right, is rebuilt by the JSON replay, and leaves ``"fixed"`` unchanged."""
import json

import numpy as np
import pytest

from modelpicker_core import from_state, make
from tests.core.test_certified import _run

N_MODELS, N_CLASSES = 5, 3


def _shared_failure_pool(n=200, seed=0):
    """Models 0-3 vote together (right on 70% of items, wrong together on the rest); model 4 is right on 90%."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, N_CLASSES, n)
    slice_ = rng.random(n) < 0.3
    majority = np.where(slice_, (truth + 1) % N_CLASSES, truth)
    preds = np.repeat(majority[:, None], N_MODELS, axis=1)
    noise = rng.random((n, 4)) < 0.1                      # a little disagreement inside the majority
    preds[:, :4] = np.where(noise, (preds[:, :4] + 2) % N_CLASSES, preds[:, :4])
    preds[:, 4] = np.where(rng.random(n) < 0.9, truth, (truth + 2) % N_CLASSES)
    return preds, truth, slice_


def _label(s, preds, items, labels):
    for i in items:
        s.observe(preds[i], int(labels[i]), item=int(i))


def test_trust_falls_when_the_consensus_labels_keep_being_wrong():
    preds, truth, slice_ = _shared_failure_pool()
    s = make("certified", N_MODELS, N_CLASSES, random_state=0, prior_trust="learned")
    s.set_pool(preds)
    assert s.trust == pytest.approx(0.5)
    wrong = np.flatnonzero(slice_ & (preds[:, 4] == truth))[:12]   # the majority is wrong, the minority right
    _label(s, preds, wrong, truth)
    assert s.trust < 0.05


def test_trust_rises_when_the_consensus_labels_are_right():
    preds, truth, slice_ = _shared_failure_pool()
    s = make("certified", N_MODELS, N_CLASSES, random_state=0, prior_trust="learned")
    s.set_pool(preds)
    right = np.flatnonzero(~slice_ & (preds[:, 4] != truth))[:25]  # the majority is right, the minority wrong
    _label(s, preds, right, truth)
    assert s.trust > 0.9


def test_low_trust_weakens_the_prior_and_moves_draws_to_the_uniform_part():
    preds, truth, slice_ = _shared_failure_pool()
    wrong = np.flatnonzero(slice_ & (preds[:, 4] == truth))[:12]
    fixed = make("certified", N_MODELS, N_CLASSES, random_state=0)
    learned = make("certified", N_MODELS, N_CLASSES, random_state=0, prior_trust="learned")
    for s in (fixed, learned):
        s.set_pool(preds)
        _label(s, preds, wrong, truth)
    assert fixed.trust == 1.0 and learned.trust < 0.05
    # with no trust the belief is the labels' alone: gamma ** correct
    labels_only = np.exp(np.log(learned.gamma) * (learned.correct_ - learned.correct_.max()))
    labels_only /= labels_only.sum()
    np.testing.assert_allclose(learned.p_best(), labels_only, atol=0.05)
    open_ = learned.certificate_.unlabelled & learned._contested   # the items the uniform part covers
    q_fixed, q_learned = fixed.sampling_distribution(), learned.sampling_distribution()
    # the smallest probability of an open item grows with the uniform share
    assert q_learned[open_].min() > q_fixed[open_].min()
    np.testing.assert_allclose(q_learned.sum(), 1.0)


def test_fixed_trust_is_the_former_belief():
    preds, truth, _ = _shared_failure_pool()
    s = make("certified", N_MODELS, N_CLASSES, random_state=1)
    assert s.get_params()["prior_trust"] == "fixed"
    s.set_pool(preds)
    _label(s, preds, np.arange(8), truth)
    prior = s.prior_power * np.log(np.maximum(s.guide_.p_best(), 1e-12))
    prior = np.maximum(prior, prior.max() - s.prior_labels * np.log(s.gamma))
    logits = prior + np.log(s.gamma) * s.correct_
    w = np.exp(logits - logits.max())
    np.testing.assert_allclose(s.p_best(), w / w.sum())
    assert s.trust_log_lr_ == 0.0


def test_learned_draws_are_deterministic_and_the_json_state_rebuilds_the_trust():
    preds, truth, _ = _shared_failure_pool()
    runs = []
    for _ in range(2):
        s = make("certified", N_MODELS, N_CLASSES, random_state=5, prior_trust="learned", trust_prior=0.3)
        s.set_pool(preds)
        items, unlabelled = _run(s, preds, truth, 15)
        runs.append((items, s.trust))
    assert runs[0] == runs[1]
    state = json.loads(json.dumps(s.get_state()))
    assert state["params"]["prior_trust"] == "learned" and state["params"]["trust_prior"] == 0.3
    restored = from_state(state)
    assert restored.trust == s.trust and restored.trust_log_lr_ == s.trust_log_lr_
    np.testing.assert_allclose(restored.p_best(), s.p_best())
    np.testing.assert_allclose(restored.sampling_distribution(unlabelled), s.sampling_distribution(unlabelled))
    assert restored.select(preds, candidates=unlabelled) == s.select(preds, candidates=unlabelled)


@pytest.mark.parametrize("params", [{"prior_trust": "sometimes"}, {"trust_prior": 0.0}, {"trust_prior": 1.0}])
def test_bad_trust_parameters_are_refused(params):
    with pytest.raises(ValueError):
        make("certified", N_MODELS, N_CLASSES, **params)
