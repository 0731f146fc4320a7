"""Every registered strategy survives a JSON round trip of its state.

After ``json.dumps`` / ``json.loads`` and ``registry.from_state`` the restored
strategy must give identical scores, P(best), ranking and, because the random
generator's state travels too, the same next random choices (tie breaks,
picks, stream coin flips).  Iterates ``registry.available()`` so strategies
registered later are covered automatically.
"""
import json

import numpy as np
import pytest

from modelpicker_core import available, from_state, make

N_MODELS, N_CLASSES = 5, 3


def _pool():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, N_CLASSES, 60)
    right = rng.random((60, N_MODELS)) < np.linspace(0.5, 0.9, N_MODELS)
    preds = np.where(right, truth[:, None], rng.integers(0, N_CLASSES, (60, N_MODELS)))
    preds[:6] = preds[:6, :1]  # some agreement items, so scores tie
    return preds, truth


def _trained(name):
    preds, truth = _pool()
    s = make(name, N_MODELS, N_CLASSES, random_state=42)
    s.set_pool(preds)
    for i in (7, 11, 20, 33):
        s.observe(preds[i], int(truth[i]), query_probability=0.5 if s.stochastic else 1.0, item=i)
    if s.stochastic:
        s.advance(3)
    return s, preds, truth


def _future(s, preds, truth):
    """Everything observable that the strategy does next, including random choices."""
    unlabelled = np.ones(len(preds), dtype=bool)
    unlabelled[[7, 11, 20, 33]] = False
    out = {
        "score": s.score(preds).tolist(),
        "p_best": s.p_best().tolist(),
        "ranking": s.ranking().to_records(),
        "selects": [s.select(preds, candidates=unlabelled) for _ in range(5)],
        "bests": [s.best() for _ in range(5)],
    }
    if s.stochastic:
        out["query_probability"] = s.query_probability(preds).tolist()
        out["stream"] = [s.stream_step(preds[i], lambda i=i: int(truth[i])) for i in range(40, 60)]
    i = out["selects"][-1]
    s.observe(preds[i], int(truth[i]), item=int(i))
    out["after_label"] = {"p_best": s.p_best().tolist(), "score": s.score(preds).tolist()}
    return out


@pytest.mark.parametrize("name", available())
def test_state_is_plain_json_and_restores_identically(name):
    s, preds, truth = _trained(name)
    state = s.get_state()
    text = json.dumps(state)  # builtins only: no numpy scalars or arrays
    restored = from_state(json.loads(text))
    assert type(restored) is type(s)
    assert json.dumps(restored.get_state()) == text
    assert _future(restored, preds, truth) == _future(s, preds, truth)


@pytest.mark.parametrize("name", available())
def test_fresh_state_round_trips(name):
    s = make(name, N_MODELS, N_CLASSES, random_state=3)
    restored = from_state(json.loads(json.dumps(s.get_state())))
    assert restored.get_params() == s.get_params()
    np.testing.assert_array_equal(restored.p_best(), s.p_best())
    assert [restored.best() for _ in range(5)] == [s.best() for _ in range(5)]


@pytest.mark.parametrize("name", available())
def test_same_seed_same_selections(name):
    runs = []
    for _ in range(2):
        s, preds, truth = _trained(name)
        runs.append(_future(s, preds, truth))
    assert runs[0] == runs[1]


def test_incomplete_state_is_a_clear_error():
    state = make("modelpicker", 3, 2).get_state()
    del state["n_classes"]
    with pytest.raises(ValueError, match="n_classes"):
        from_state(state)
