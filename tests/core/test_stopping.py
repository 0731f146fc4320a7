"""The stopping rule: stop when sure enough, when the budget is spent or nothing is left."""
import numpy as np
import pytest

from modelpicker_core import registry
from modelpicker_core.stopping import Decision, StoppingRule


def test_stops_when_the_pick_is_sure_enough():
    decision = StoppingRule(confidence=0.95, patience=1).decide([0.02, 0.96, 0.02], labels=12)
    assert decision == Decision(True, 1, 0.96, "confident", 12)


def test_continues_below_the_confidence():
    decision = StoppingRule(confidence=0.95).decide([0.10, 0.90], labels=12, unlabelled=50)
    assert not decision.stop
    assert decision.reason == "continue"
    assert decision.model == 1


def test_budget_stops_even_when_unsure():
    rule = StoppingRule(confidence=0.99, budget=20)
    assert rule.decide([0.5, 0.5], labels=19).reason == "continue"
    decision = rule.decide([0.4, 0.6], labels=20)
    assert decision.stop and decision.reason == "budget" and decision.model == 1


def test_exhausted_pool_stops():
    decision = StoppingRule().decide([0.6, 0.4], labels=7, unlabelled=0)
    assert decision.stop and decision.reason == "exhausted"


def test_min_labels_guards_confident_stop():
    rule = StoppingRule(confidence=0.9, min_labels=5, patience=1)
    assert rule.decide([1.0, 0.0], labels=4).reason == "continue"
    assert rule.decide([1.0, 0.0], labels=5).reason == "confident"


@pytest.mark.parametrize("kwargs", [{"confidence": 1.0}, {"confidence": 0.0}, {"confidence": -1},
                                    {"budget": -3}, {"budget": 2.5}, {"min_labels": -1}])
def test_bad_parameters_are_named(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        StoppingRule(**kwargs)


@pytest.mark.parametrize("p", [[], [[0.5, 0.5]], [0.5, np.nan], [1.5, -0.5]])
def test_bad_probabilities_are_rejected(p):
    with pytest.raises(ValueError, match="p_best"):
        StoppingRule().decide(p, labels=1)


def test_negative_labels_are_rejected():
    with pytest.raises(ValueError, match="labels"):
        StoppingRule().decide([1.0], labels=-1)


def test_decision_serialises():
    d = StoppingRule(patience=1).decide([0.97, 0.03], labels=3).to_dict()
    assert d == {"stop": True, "model": 0, "p_best": 0.97, "reason": "confident", "labels": 3, "gap": None}


def test_decide_for_uses_the_probability_that_the_pick_is_a_true_best():
    # two identical models: P(best) splits 50/50 but each is a true best for sure
    preds = np.array([[0, 0, 1], [1, 1, 0], [0, 0, 0], [1, 1, 1]])
    labels = np.array([0, 1, 0, 1])
    s = registry.make("consensus", 3, 2, random_state=0)
    s.set_pool(preds)
    for i in range(4):
        s.observe(preds[i], labels[i], item=i)
    assert s.p_best()[0] == pytest.approx(0.5)
    decision = StoppingRule(confidence=0.95).decide_for(s, unlabelled=0, previous=[1.0, 1.0])
    assert decision.stop and decision.reason == "confident"
    assert decision.model in (0, 1) and decision.p_best == pytest.approx(1.0)


def test_patience_needs_the_level_to_hold_for_consecutive_labels():
    rule = StoppingRule(confidence=0.95, patience=3)
    assert rule.decide([0.97, 0.03], labels=5).reason == "continue"                       # no history
    assert rule.decide([0.97, 0.03], labels=5, previous=[0.96]).reason == "continue"     # 2 of 3
    assert rule.decide([0.97, 0.03], labels=5, previous=[0.99, 0.90, 0.96]).reason == "continue"
    assert rule.decide([0.97, 0.03], labels=5, previous=[0.5, 0.96, 0.99]).reason == "confident"


def test_patience_must_be_positive():
    with pytest.raises(ValueError, match="patience"):
        StoppingRule(patience=0)


def test_default_patience_is_three_labels():
    rule = StoppingRule()
    assert rule.get_params() == {"rule": "belief", "confidence": 0.95, "budget": None, "min_labels": 0, "patience": 3}
    assert not rule.decide([0.99, 0.01], labels=9, previous=[0.97]).stop
    assert rule.decide([0.99, 0.01], labels=9, previous=[0.97, 0.96]).stop
