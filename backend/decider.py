"""The stopping rule over a project's belief: what it says now, and the stop / reopen records it leaves.

The rule is the very object ``bench --stop`` builds from the same settings
(:func:`modelpicker_core.stopping.make_rule`); :mod:`backend.decisions` holds
the pure parts (the JSON summary, when a record is due).
"""
from __future__ import annotations

import dataclasses
import logging

import modelpicker_core as core
from modelpicker_core.stopping import Decision, make_rule
from modelpicker_core.votes import pick

from .belief import Belief, ranking_records
from .decisions import LiveDecision, RoundDecision, decision_summary, is_stopped, next_record
from .settings import Settings
from .timefmt import iso_fields

logger = logging.getLogger(__name__)


def stopping_rule(settings: Settings):
    """The rule of the settings (``MODELPICKER_STOP_RULE``), the very object ``bench --stop`` builds."""
    st = settings
    return make_rule(st.stop_rule, epsilon=st.epsilon, delta=st.delta, confidence=st.confidence,
                     patience=st.patience, budget=st.label_budget, min_labels=st.min_labels)


def strategy_params(strategy: str, settings: Settings) -> dict:
    """Constructor parameters the settings give the strategy (the certificate's delta and epsilon)."""
    return core.registry.stop_params(strategy, settings.epsilon, settings.delta)


class Decider:
    """Asks the stopping rule about a project's round and records its stops and reopenings.

    Parameters
    ----------
    env : the service's shared environment, read at every call: ``settings`` (the rule's), ``store``
        (rounds, decisions, prediction errors), ``pool`` (candidate names and cache keys), ``strategy``
        (recorded with each decision), ``clock()``.
    """

    def __init__(self, env):
        self.env = env

    def rule(self, project: int, belief: Belief) -> tuple[Decision, LiveDecision]:
        """The stopping rule's answer for a belief, and its JSON summary.

        The rule sees the round's scored tasks only.  Tasks a candidate cannot
        predict are not scored, so "exhausted" means every *scored* task is
        labelled; the summary then counts the round's tasks left out
        (``"unscored_tasks"``) and says so in ``reason_text``.
        """
        unlabelled = int((belief.labels < 0).sum()) if belief.task_ids.size else None
        model = pick(belief.strategy.p_top())  # the model the belief rule's patience follows
        previous = [] if belief.p_history is None else belief.p_history[:, model]
        env = self.env
        rule = stopping_rule(env.settings)
        if rule.name == "certified":
            d = rule.decide_for(belief.strategy, unlabelled, gap=belief.gap)
        else:
            d = rule.decide_for(belief.strategy, unlabelled, previous=previous)
            d = dataclasses.replace(d, gap=float(belief.gap[d.model]) if belief.gap is not None else None)
        # the named candidate's P(best) (its ranking row), not the rule's p_top: one value in
        # /rankings, the description's decision line and /export
        p_best = float(belief.strategy.ranking().p_best[d.model])
        live = decision_summary(d, env.pool.names[d.model], rule.get_params(), p_best=p_best,
                                previous=previous if rule.name != "certified" else ())
        in_round = set(env.store.round_tasks(project, env.store.current_round(project)))
        unscored = sorted({e["task"] for e in env.store.prediction_errors(project, env.pool.cache_keys)} & in_round)
        live = dataclasses.replace(live, unscored_tasks=len(unscored))
        if unscored and d.reason == "exhausted":
            live = dataclasses.replace(live, reason_text=(
                f"every scored task of the round is labelled; {len(unscored)} task(s) "
                f"left out because a candidate cannot predict them (tasks_without_predictions)"))
        if belief.bound_void:
            live = dataclasses.replace(live, reason_text="; ".join(filter(None, (live.reason_text,
                                                                                 belief.bound_void))))
        return d, live

    def live_decision(self, project: int, belief: Belief) -> LiveDecision:
        """What the stopping rule says now about the round's belief (not recorded)."""
        return self.rule(project, belief)[1]

    def decide(self, project: int, belief: Belief) -> RoundDecision:
        """Ask the stopping rule, record a stop / reopen when its answer changed; returns the live decision."""
        d, live = self.rule(project, belief)
        store = self.env.store
        round_ = store.current_round(project)
        history = store.decisions(project, round_)
        last = history[-1] if history else None
        state = next_record(last, d, live.candidate)
        if state is not None:
            last = store.add_decision(project, round_, self._record(state, live, belief))
            logger.info("project %s round %s: decision %s (%s, P(best)=%.3f, %d labels)", project, round_, state,
                        live.candidate, live.p_best, live.labels)
        return RoundDecision(live, round_, None if last is None else last["state"],
                             None if last is None else iso_fields(last, ("decided_at",)))

    def _record(self, state: str, live: LiveDecision, belief: Belief) -> dict:
        """The decision record kept in the store: the live decision, the settings and the ranking it rests on."""
        st = self.env.settings
        return {"state": state, "candidate": live.candidate, "p_best": live.p_best, "labels": live.labels,
                "reason": live.reason, "decided_at": self.env.clock(),
                "evidence": {"gap": live.gap, "p_top": live.p_top, "reason_text": live.reason_text,
                             "confidence": st.confidence, "budget": st.label_budget, "min_labels": st.min_labels,
                             "patience": st.patience, "rule": live.rule, "epsilon": st.epsilon,
                             "delta": st.delta, "unlabelled": int((belief.labels < 0).sum()),
                             "ranking": ranking_records(belief, self.env.pool.names),
                             "model_version": belief.model_version, "strategy": self.env.strategy}}

    def round_after_decision(self, project: int) -> int | None:
        """Start a new round when a fresh batch arrives after the current round was decided (stopped).

        Called for a ``TASKS_CREATED`` whose tasks are all new to the backend
        (an import of a new batch; a delivery that repeats known tasks is not).
        """
        store = self.env.store
        round_ = store.current_round(project)
        records = store.decisions(project, round_)
        if not is_stopped(records[-1] if records else None):
            return None
        logger.info("project %s: new tasks after the decision of round %s; starting round %s",
                    project, round_, round_ + 1)
        return store.start_round(project, f"new tasks imported after round {round_} was decided", self.env.clock())
