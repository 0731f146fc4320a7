"""The certified strategy's certificate-directed guided draws (``focus``): on a disagreement of the leader with
an uncertified rival, still seeded and replayable."""
import json

import numpy as np
import pytest

from modelpicker_core import from_state, make
from modelpicker_core.focus import leader_and_rivals
from tests.support.noisy_pool import noisy_pool

N_MODELS, N_CLASSES = 6, 3


def _pool(n=120, seed=0):
    preds, truth = noisy_pool(N_MODELS, N_CLASSES, n, seed)
    preds[:10] = truth[:10, None]          # unanimous items: nothing to learn there
    return preds, truth


def _label(s, preds, truth, unlabelled):
    i = s.select(preds, candidates=unlabelled)
    s.observe(preds[i], int(truth[i]), item=i)
    unlabelled[i] = False
    return i


@pytest.mark.parametrize("focus_leader", ["pick", "gap"])
def test_the_guided_item_is_a_disagreement_of_the_leader_with_an_uncertified_rival(focus_leader):
    preds, truth = _pool()
    s = make("certified", N_MODELS, N_CLASSES, random_state=5, focus="open", focus_leader=focus_leader)
    s.set_pool(preds)
    unlabelled = np.ones(len(truth), dtype=bool)
    for _ in range(30):
        gap, p_top = s.certificate_.gap(), s.p_top()
        leader, rivals = leader_and_rivals(focus_leader, gap, p_top, s.certificate_.lower, s.epsilon, len(truth))
        allowed = unlabelled & s._contested
        item = s._guided_item(allowed, gap, p_top)
        assert allowed[item]
        if rivals.size and np.any(allowed & np.any(preds[:, rivals] != preds[:, [leader]], axis=1)):
            assert np.any(preds[item, rivals] != preds[item, leader])
        _label(s, preds, truth, unlabelled)


@pytest.mark.parametrize("params", [{"focus": "open"}, {"focus": "open", "focus_leader": "gap"}, {"focus": "none"}])
def test_focused_draws_replay_from_json(params):
    preds, truth = _pool()
    s = make("certified", N_MODELS, N_CLASSES, random_state=7, **params)
    s.set_pool(preds)
    unlabelled = np.ones(len(truth), dtype=bool)
    items = [_label(s, preds, truth, unlabelled) for _ in range(15)]
    again = make("certified", N_MODELS, N_CLASSES, random_state=7, **params)
    again.set_pool(preds)
    left = np.ones(len(truth), dtype=bool)
    assert [_label(again, preds, truth, left) for _ in range(15)] == items   # same seed, same labels: same draws
    restored = from_state(json.loads(json.dumps(s.get_state())))
    np.testing.assert_array_equal(restored.certificate_.lower, s.certificate_.lower)
    np.testing.assert_allclose(restored.sampling_distribution(unlabelled), s.sampling_distribution(unlabelled))
    assert restored.select(preds, candidates=unlabelled) == s.select(preds, candidates=unlabelled)


def test_bad_focus_parameters_are_rejected():
    for params in ({"focus": "other"}, {"focus": "gain"}, {"focus_leader": "x"}):
        with pytest.raises(ValueError):
            make("certified", N_MODELS, N_CLASSES, **params)
