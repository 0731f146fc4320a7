"""The certified bound weighs each drawn label by the probability its draw had, and a refit replays the labels
with the draw rule of the code running now.  So the first fit of a round keeps its rule in the store, and a
round whose labels another rule drew (an upgrade that changed the draws, other settings) keeps its labels and
P(best) but gets only the trivial bound and no certified STOP."""
from __future__ import annotations

from tests.backend.test_refresh import ok

CERTIFIED = {"MODELPICKER_STRATEGY": "certified", "MODELPICKER_EPSILON": "0.3"}


def label_served_first(b, events, truth, n: int, start: int = 100) -> None:
    """Label the task the queue serves first, ``n`` times, with its true class."""
    for k in range(n):
        task = b.service.belief(1).task_ids[b.service.belief(1).head]
        ok(b.webhook(events.created(start + k, int(task), events.choices[truth[int(task) - 1]])))


def test_the_first_fit_keeps_the_rule_and_a_round_drawn_by_another_rule_has_no_bound(backend_factory, events,
                                                                                      truth):
    b = backend_factory(**CERTIFIED)
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 31))))
    store, rule = b.service.store, b.service.belief(1).draw_rule
    assert rule.startswith("certified draws v3; ") and store.draw_rule(1, 1) == rule
    label_served_first(b, events, truth, 6)
    bounds = [r["gap"] for r in b.ranking()["candidates"]]
    assert min(bounds) < 1.0 and "no certified bound" not in b.ranking()["decision"]["reason_text"]

    store._execute("UPDATE round_draw_rules SET rule = ? WHERE project = 1", ("certified draws v1; older",))
    label_served_first(b, events, truth, 1, start=200)                 # the next refit sees the other rule
    ranking = b.ranking()
    assert [r["gap"] for r in ranking["candidates"]] == [1.0] * len(bounds)
    assert ranking["decision"]["labels"] == 7 and not ranking["decision"]["stop"]
    assert "no certified bound in this round" in ranking["decision"]["reason_text"]
    assert store.draw_rule(1, 1) == "certified draws v1; older"        # the kept rule is never overwritten


def test_a_strategy_that_draws_nothing_keeps_no_rule(backend_factory, events):
    b = backend_factory()                                               # modelpicker: no draws, no certificate
    ok(b.post("/setup", {"project": 1, "schema": events.config}))
    ok(b.webhook(events.tasks_created(*range(1, 11))))
    assert b.service.belief(1).draw_rule is None and b.service.store.draw_rule(1, 1) is None


def test_the_store_keeps_the_first_rule_of_each_round(backend_factory):
    store = backend_factory().service.store
    assert store.draw_rule(1, 1) is None
    assert store.record_draw_rule(1, 1, "a", 1.0) == "a"
    assert store.record_draw_rule(1, 1, "b", 2.0) == "a"
    assert store.record_draw_rule(1, 2, "b", 3.0) == "b" and store.draw_rule(1, 1) == "a"
