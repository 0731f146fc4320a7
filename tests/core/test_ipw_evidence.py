"""The certified strategy's importance-weighted evidence (``evidence="ipw"``): pure weights, belief, replay."""
import json

import numpy as np
import pytest

from modelpicker_core import from_state, make
from modelpicker_core.evidence import label_weights, weighted_correct
from tests.support.noisy_pool import noisy_pool

N_MODELS, N_CLASSES = 6, 3


def test_uniform_probabilities_give_the_raw_counts():
    rows = np.array([[0, 1, 0], [2, 2, 1], [1, 1, 1]])
    labels = np.array([0, 2, 1])
    weights = label_weights(np.full(3, 0.01))
    np.testing.assert_array_equal(weights, np.ones(3))
    np.testing.assert_array_equal(weighted_correct(rows, labels, weights), [3.0, 2.0, 2.0])


def test_hand_computed_weights_power_clip_and_undrawn_labels():
    # raw 1 / q = 2, 4 and (not drawn) their mean 3; mean raw 3 -> weights 2/3, 4/3, 1 (sum 3 = the label count)
    weights = label_weights(np.array([0.5, 0.25, np.nan]))
    np.testing.assert_allclose(weights, [2 / 3, 4 / 3, 1.0])
    rows = np.array([[0, 1], [1, 1], [0, 0]])
    labels = np.array([0, 1, 1])            # model 0 right on items 0 and 1, model 1 on item 1, neither on item 2
    np.testing.assert_allclose(weighted_correct(rows, labels, weights), [2 / 3 + 4 / 3, 4 / 3])
    # power 0.5: raw sqrt(2), 2, their mean; clip caps without renormalising
    tempered = label_weights(np.array([0.5, 0.25]), power=0.5)
    np.testing.assert_allclose(tempered, np.array([2 ** 0.5, 2.0]) / ((2 ** 0.5 + 2.0) / 2))
    np.testing.assert_allclose(label_weights(np.array([0.5, 0.25, 1e-9]), clip=2.0)[2], 2.0)
    np.testing.assert_array_equal(label_weights(np.array([np.nan, np.nan])), [1.0, 1.0])
    np.testing.assert_array_equal(label_weights(np.array([0.5, 0.01]), power=0.0), [1.0, 1.0])
    assert np.all(np.isfinite(label_weights(np.array([1.0, 1e-300]))))     # no overflow at tiny q


def _pool(n=120, seed=0):
    return noisy_pool(N_MODELS, N_CLASSES, n, seed)


def _run(preds, truth, n_labels=15, **params):
    """Label ``n_labels`` drawn items; returns the strategy, the open mask and each label's recorded ``q``."""
    s = make("certified", N_MODELS, N_CLASSES, random_state=3, **params)
    s.set_pool(preds)
    unlabelled, qs = np.ones(len(truth), dtype=bool), []
    for _ in range(n_labels):
        i = s.select(preds, candidates=unlabelled)
        qs.append(s.pending_[1].q)
        s.observe(preds[i], int(truth[i]), item=i)
        unlabelled[i] = False
    return s, unlabelled, np.array(qs)


def test_power_zero_is_the_default_and_ipw_belief_matches_the_formula():
    preds, truth = _pool()
    default, _, q_default = _run(preds, truth)
    flat, _, q_flat = _run(preds, truth, evidence="ipw", ipw_power=0.0)      # every weight 1: the raw counts
    np.testing.assert_array_equal(q_flat, q_default)
    np.testing.assert_array_equal(flat.p_best(), default.p_best())
    s, _, qs = _run(preds, truth, evidence="ipw")
    items, labels = np.asarray(s.labelled_)[:, :2].T
    w = (1 / qs) / np.mean(1 / qs)
    correct = w @ (preds[items] == labels[:, None])
    assert w.sum() == pytest.approx(len(qs))
    logits = s._guide_prior() + np.log(s.gamma) * correct
    expected = np.exp(logits - logits.max())
    np.testing.assert_allclose(s.p_best(), expected / expected.sum())
    assert not np.allclose(correct, s.correct_)     # the guided draws' q differ: the weights are not all 1


def test_undrawn_labels_count_as_the_raw_counts():
    preds, truth = _pool()
    s = make("certified", N_MODELS, N_CLASSES, random_state=3, evidence="ipw")
    plain = make("certified", N_MODELS, N_CLASSES, random_state=3)
    for strategy in (s, plain):
        strategy.set_pool(preds)
        for i in range(10):                          # labels the strategy did not draw: no q, weight 1
            strategy.observe(preds[i], int(truth[i]), item=i)
    np.testing.assert_allclose(s.p_best(), plain.p_best())


def test_ipw_belief_replays_from_json_and_bad_values_are_rejected():
    preds, truth = _pool()
    s, unlabelled, _ = _run(preds, truth, n_labels=12, evidence="ipw", ipw_power=0.5, ipw_clip=4.0)
    state = json.loads(json.dumps(s.get_state()))
    assert state["params"]["evidence"] == "ipw" and state["params"]["ipw_clip"] == 4.0
    restored = from_state(state)
    np.testing.assert_allclose(restored.p_best(), s.p_best())
    np.testing.assert_allclose(restored.sampling_distribution(unlabelled), s.sampling_distribution(unlabelled))
    for params in ({"evidence": "other"}, {"ipw_power": 1.5}, {"ipw_power": -0.1}, {"ipw_clip": 0.0}):
        with pytest.raises(ValueError):
            make("certified", N_MODELS, N_CLASSES, **params)
