"""The certified strategy's tempered information gain (``gain_temper``): the guided draws ask about the belief
raised to ``min(1, c / sqrt(n_labels))``, the belief itself (pick, P(best)) is untouched."""
import json

import numpy as np
import pytest

from modelpicker_core import from_state, make
from tests.support.noisy_pool import noisy_pool

N_MODELS, N_CLASSES = 6, 3


def _label(s, preds, truth, n):
    """``n`` drawn labels; the items drawn, in order."""
    items = []
    for _ in range(n):
        i = s.select(preds)
        s.observe(preds[i], int(truth[i]), item=i)
        items.append(i)
    return items


def test_the_first_c_squared_labels_are_drawn_as_without_tempering():
    preds, truth = noisy_pool(N_MODELS, N_CLASSES, n=200, seed=4)
    tempered = make("certified", N_MODELS, N_CLASSES, random_state=9, gain_temper=2.0)
    plain = make("certified", N_MODELS, N_CLASSES, random_state=9, gain_temper=0.0)
    for s in (tempered, plain):
        s.set_pool(preds)
    # labels 1..5 are drawn at label counts 0..4, where min(1, 2 / sqrt(n)) is 1
    assert _label(tempered, preds, truth, 5) == _label(plain, preds, truth, 5)


def test_later_gains_ask_about_a_flatter_belief_and_the_belief_itself_is_unchanged():
    preds, truth = noisy_pool(N_MODELS, N_CLASSES, n=200, seed=4)
    s = make("certified", N_MODELS, N_CLASSES, random_state=9, gain_temper=2.0)
    s.set_pool(preds)
    _label(s, preds, truth, 25)
    belief, asked = s.p_best(), s._gain_belief()
    power = 2.0 / np.sqrt(25.0)
    expected = belief ** power / np.sum(belief ** power)
    np.testing.assert_allclose(asked, expected, rtol=1e-9)
    assert asked.max() < belief.max()                       # flatter: the leader weighs less
    assert int(np.argmax(asked)) == int(np.argmax(belief))  # same order of the candidates
    untempered = make("certified", N_MODELS, N_CLASSES, random_state=9, gain_temper=0.0)
    untempered.set_pool(preds)
    _label(untempered, preds, truth, 25)
    np.testing.assert_array_equal(untempered._gain_belief(), untempered.p_best())


def test_tempered_draws_replay_from_json():
    preds, truth = noisy_pool(N_MODELS, N_CLASSES, n=150, seed=2)
    s = make("certified", N_MODELS, N_CLASSES, random_state=1, gain_temper=3.0)
    s.set_pool(preds)
    _label(s, preds, truth, 30)
    copy = from_state(json.loads(json.dumps(s.get_state())))
    assert copy.gain_temper == 3.0
    assert _label(copy, preds, truth, 10) == _label(s, preds, truth, 10)


@pytest.mark.parametrize("value", [-0.5, -1])
def test_a_negative_gain_temper_is_rejected_with_its_name(value):
    with pytest.raises(ValueError, match="gain_temper must be >= 0"):
        make("certified", N_MODELS, N_CLASSES, gain_temper=value)
