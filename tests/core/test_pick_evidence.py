"""The certified strategy's head-to-head evidence on the guide's prior (``pick_evidence="h2h"``)."""
import json

import numpy as np
import pytest

from modelpicker_core import from_state, make
from modelpicker_core.focus import head_to_head_prior
from tests.support.noisy_pool import noisy_pool

N_MODELS, N_CLASSES = 6, 3


def test_net_losses_shrink_the_favourites_margin_and_wins_never_grow_it():
    prior = np.log([0.7, 0.2, 0.1])
    rows = np.array([[0, 1, 0], [0, 1, 1], [2, 2, 0]])      # model 1 right where the favourite 0 is wrong, twice
    labels = np.array([1, 1, 2])                            # model 2: one loss, one win against the favourite
    out = head_to_head_prior(prior, rows, labels, ratio=3.0)
    assert out[0] == prior[0]
    assert out[1] == pytest.approx(prior[0] - (prior[0] - prior[1]) / 9.0)
    assert out[2] == pytest.approx(prior[2])                # net 0: unchanged
    np.testing.assert_array_equal(head_to_head_prior(prior, rows[:0], labels[:0], 3.0), prior)
    win = head_to_head_prior(prior, np.array([[1, 0, 0]]), np.array([1]), 3.0)
    np.testing.assert_allclose(win, prior)                  # the favourite's win leaves the prior as it was
    multi = head_to_head_prior(prior, rows, labels, ratio=2.0, multi=True)   # margin log(2) / log(2) = 1 loss
    assert multi[1] == pytest.approx(prior[0] - (prior[0] - prior[1]) / 2.0)
    assert multi[2] == pytest.approx(prior[2])


def _pool(n=120, seed=0):
    return noisy_pool(N_MODELS, N_CLASSES, n, seed)


@pytest.mark.parametrize("evidence", ["h2h", "h2h-multi"])
def test_h2h_belief_replays_from_json_and_bad_values_are_rejected(evidence):
    preds, truth = _pool()
    s = make("certified", N_MODELS, N_CLASSES, random_state=3, pick_evidence=evidence, h2h_ratio=4.0)
    s.set_pool(preds)
    unlabelled = np.ones(len(truth), dtype=bool)
    for _ in range(12):
        i = s.select(preds, candidates=unlabelled)
        s.observe(preds[i], int(truth[i]), item=i)
        unlabelled[i] = False
    restored = from_state(json.loads(json.dumps(s.get_state())))
    np.testing.assert_allclose(restored.p_best(), s.p_best())
    np.testing.assert_allclose(restored.sampling_distribution(unlabelled), s.sampling_distribution(unlabelled))
    for params in ({"pick_evidence": "other"}, {"h2h_ratio": 1.0}):
        with pytest.raises(ValueError):
            make("certified", N_MODELS, N_CLASSES, **params)
