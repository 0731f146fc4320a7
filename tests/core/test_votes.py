"""The shared primitives of modelpicker_core.votes: the seeded tie-break, and the re-exports the
strategies' old import paths keep."""
import numpy as np
import pytest

from modelpicker_core import make, modelpicker, votes


def test_a_single_maximum_is_returned_without_drawing():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert votes.argmax_seeded_ties([0.1, 0.7, 0.2], rng) == 1
    assert rng.bit_generator.state == state


def test_ties_are_broken_by_one_choice_over_the_tied_indices():
    values = [0.5, 0.1, 0.5, 0.5 - 1e-13]
    expected = int(np.random.default_rng(3).choice(np.array([0, 2, 3])))
    assert votes.argmax_seeded_ties(values, np.random.default_rng(3)) == expected


def test_ties_are_broken_uniformly():
    rng = np.random.default_rng(1)
    picks = [votes.argmax_seeded_ties([1.0, 0.0, 1.0], rng) for _ in range(2000)]
    assert set(picks) == {0, 2}
    assert abs(np.mean(np.array(picks) == 0) - 0.5) < 0.05


def test_the_modelpicker_module_keeps_the_shared_helpers():
    for name in ("all_agree", "check_predictions", "class_mass_blocks", "class_mass", "compact_predictions"):
        assert getattr(modelpicker, name) is getattr(votes, name)


@pytest.mark.parametrize("name", ["random", "model_selector", "modelpicker"])
def test_strategy_best_is_the_seeded_tie_break_of_p_best(name):
    s = make(name, 4, 3, random_state=7)
    twin = np.random.default_rng(7)
    assert s.best() == votes.argmax_seeded_ties(s.p_best(), twin)
    assert s.rng_.bit_generator.state == twin.bit_generator.state


def test_the_pick_breaks_p_top_ties_by_p_best_then_accuracy_then_the_lowest_column():
    p_top = np.array([0.9, 0.9, 0.9, 0.2])
    p_best = np.array([0.3, 0.5, 0.5, 0.9])
    accuracy = np.array([0.8, 0.7, 0.75, 0.99])
    assert votes.pick(p_top) == 0
    assert votes.pick(p_top, p_best) == 1
    assert votes.pick(p_top, p_best, accuracy) == 2
    assert votes.pick(p_top, p_best + np.array([0, 0, 5e-13, 0])) == 1  # within the tolerance: still tied


def test_the_pick_draws_only_among_what_every_key_left_tied():
    p_top = np.array([1.0, 1.0, 1.0, 0.0])
    p_best = np.array([0.2, 0.4, 0.4, 0.0])
    rng = np.random.default_rng(0)
    seen = {votes.pick(p_top, p_best, rng=rng) for _ in range(200)}
    assert seen == {1, 2}
    untouched = np.random.default_rng(5)
    assert votes.pick(np.array([0.1, 0.7]), rng=untouched) == 1
    assert untouched.random() == np.random.default_rng(5).random()     # a single model: nothing drawn


def test_ranking_best_stopping_rule_and_strategy_best_agree_without_ties():
    from modelpicker_core.base import Ranking
    from modelpicker_core.stopping import StoppingRule

    p = np.array([0.1, 0.6, 0.3])
    ranking = Ranking(p, np.array([0.7, 0.8, 0.75]), np.zeros(3), np.ones(3), 10)
    assert ranking.best == int(ranking.order[0]) == 1
    assert StoppingRule(confidence=0.5, patience=1).decide(p, 10).model == 1
