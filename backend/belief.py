"""The belief about which candidate is best: a pure function of the stored labels.

The strategy is rebuilt by replaying the labels in a canonical order (by
annotation id) whenever they change, so the same set of labels always gives
the same belief, whatever order or how many times the webhooks delivered
them.  A replay from the start costs ``O(n_labels * n_tasks)`` for the
certified strategy (one draw per label over the pool; measured in
docs/load.md), so a fit continues from the latest checkpoint of the previous
fit that its replay shares (:class:`Checkpoint`); the result is the same as a
replay from the start.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
from collections import Counter, defaultdict
from typing import Any

import numpy as np

import modelpicker_core as core
from modelpicker_core.certificate import GapCertificate

from .checkpoint_copy import frozen_state
from .labelconfig import ChoicesControl
from .prediction_matrix import RECORD_SEPARATOR, UNIT_SEPARATOR, prediction_matrix  # noqa: F401 (re-exported)
from .store import Label

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Belief:
    """A strategy fitted to one project's labels, with the priorities it implies.

    Attributes
    ----------
    strategy : the fitted core strategy.
    task_ids : ``(n_tasks,)`` ids of the tasks every candidate has a prediction for.
    predictions : ``(n_tasks, n_models)`` class indices (columns in pool order).
    labels : ``(n_tasks,)`` class of each labelled task, -1 when unlabelled.
    informativeness : ``(n_tasks,)`` the strategy's score (higher = label
        first); NaN for labelled tasks.
    priority : ``(n_tasks,)`` Label Studio ``score`` in ``[0, 1)``, lower = label
        first: the fraction of unlabelled tasks strictly more informative.
        1.0 for labelled tasks.
    n_labels : labels stored (annotations with an answer).
    model_version : the priority version (see :func:`model_version`).
    p_history : ``(k, n_models)`` the strategy's ``p_top()`` after each of the
        last ``k`` labels before the final one, oldest first (``k`` = the
        ``history`` asked of :func:`fit_belief`); the stopping rule's patience
        reads it.
    gap : ``(n_models,)`` the certified bound on how far each candidate is below
        the best (accuracy units; see :mod:`modelpicker_core.certificate`).
    head : row of the task drawn to be labelled next (served first), or None.
    replay : the labels replayed, ``(first annotation id, row, class)`` in order (see :func:`replay_order`).
    checkpoints : states of the replay to continue the next fit from (:class:`Checkpoint`).
    fit_key : the strategy, seed, parameters and ``history`` it was fitted with.
    bound_void : why :attr:`gap` is only the trivial bound (1.0: the round's labels were drawn by another draw
        rule, see :meth:`backend.belief_cache.BeliefCache.belief_at`), or None.
    """

    strategy: core.Strategy
    task_ids: np.ndarray
    predictions: np.ndarray
    labels: np.ndarray
    informativeness: np.ndarray
    priority: np.ndarray
    n_labels: int
    model_version: str
    p_history: np.ndarray | None = None
    gap: np.ndarray | None = None
    head: int | None = None
    replay: tuple | None = None
    fit_key: str | None = None
    checkpoints: tuple = ()
    bound_void: str | None = None

    @property
    def draw_rule(self) -> str | None:
        """The draws' rule: the strategy's ``draw_rule`` version with everything the fit depends on (seed,
        parameters); None for a strategy that draws nothing."""
        version = getattr(self.strategy, "draw_rule", None)
        return None if version is None else f"{self.strategy.name} draws v{version}; {self.fit_key}"

    def row(self, task_id: int) -> int | None:
        """Row of ``task_id`` in :attr:`task_ids`, or None."""
        i = int(np.searchsorted(self.task_ids, task_id))
        return i if i < self.task_ids.size and self.task_ids[i] == task_id else None


def task_labels(labels: list[Label], choices: ChoicesControl) -> dict[int, tuple[int, int]]:
    """One class per task from its annotations: ``task -> (class, first annotation id)``.

    Several annotators of a task are combined by majority; a tie goes to the
    answer of the most recent (highest id) annotation among the tied ones.
    Labels that are no longer Choices of the config are left out (logged).
    """
    by_task: dict[int, list[Label]] = defaultdict(list)
    for label in labels:
        if label.choice in choices:
            by_task[label.task].append(label)
        else:
            logger.warning("annotation %s: %r is not a Choice of the current config; ignored",
                           label.annotation, label.choice)
    out = {}
    for task, items in by_task.items():
        counts = Counter(choices.canonical(x.choice) for x in items)
        top = max(counts.values())
        latest = max((x for x in items if counts[choices.canonical(x.choice)] == top), key=lambda x: x.annotation)
        out[task] = (choices.index(latest.choice), min(x.annotation for x in items))
    return out


def model_version(project: int, labels: list[Label], strategy: str, seed: int, pool_fingerprint: str,
                  round_: int = 1, task_ids: np.ndarray | None = None) -> str:
    """The priority version ``modelpicker-p<project>-n<labels>-<hash>`` (``-r<round>-`` before ``n`` from round 2).

    ``<hash>`` is 8 hex digits of a SHA-256 over the strategy, its seed, the
    pool's fingerprint (candidates, their sources and model files), the
    sorted ``(annotation, task, choice)`` labels and the ids of the scored
    tasks ``(n_tasks,)``, so the version changes exactly when the labels, the
    set of tasks being ranked (a new batch), the pool or the strategy change,
    and is the same after a restart.
    """
    h = hashlib.sha256(f"{strategy}|{seed}|{pool_fingerprint}".encode())
    if round_ != 1:
        h.update(f"|round {round_}".encode())
    for label in sorted(labels, key=lambda x: x.annotation):
        h.update(f"|{label.annotation}:{label.task}:{label.choice}".encode())
    if task_ids is not None:
        ordered = np.sort(np.asarray(task_ids, dtype="<i8"))
        h.update(b"|tasks " + hashlib.sha256(ordered.tobytes()).digest())
    round_part = f"r{round_}-" if round_ != 1 else ""
    return f"modelpicker-p{project}-{round_part}n{len(labels)}-{h.hexdigest()[:8]}"


def priorities(informativeness: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """Label Studio scores, lower = label first, from informativeness (higher = label first).

    ``informativeness`` and ``labelled`` are ``(n_tasks,)``.  An unlabelled
    task's score is the fraction of unlabelled tasks strictly more informative
    than it, so the most informative task scores 0, ties score alike and the
    scale does not depend on the strategy's units.  Labelled tasks score 1.
    """
    out = np.ones(informativeness.shape[0])
    free = np.flatnonzero(~labelled)
    if free.size:
        values = informativeness[free]
        ordered = np.sort(values)
        strictly_greater = values.size - np.searchsorted(ordered, values, side="right")
        out[free] = strictly_greater / values.size
    return out


def fit_belief(project: int, strategy: str, seed: int, pool_fingerprint: str, task_ids: np.ndarray,
               matrix: np.ndarray, choices: ChoicesControl, labels: list[Label], round_: int = 1,
               history: int = 0, params: dict | None = None, delta: float = 0.05,
               previous: Belief | None = None) -> Belief:
    """Fit ``strategy`` to the project's labels over the tasks of ``matrix``.

    Parameters
    ----------
    task_ids, matrix : from :func:`prediction_matrix`, ``(n_tasks,)`` and ``(n_tasks, n_models)``.
    labels : every stored label of the project's current round; labels of
        tasks outside ``task_ids`` wait until their predictions are cached.
    round_ : the round (part of the priority version).
    history : how many earlier belief states to keep in ``p_history``.
    params : further constructor parameters of the strategy (e.g. the certified strategy's ``delta``).
    delta : error probability of the certified bound of a strategy without a certificate
        of its own (its labels count as exact knowledge only).
    previous : the belief fitted before for the same project; the replay continues from the latest of
        its checkpoints that this replay shares (:class:`Checkpoint`), with the same result as a replay
        from the start, which costs ``O(n_labels * n_tasks)``.

    A strategy that draws its labels (``draw()``, the certified one) is
    replayed draw by draw: before each label the draw it would have made is
    made again (a function of its seed and the label count), and the label
    counts as drawn when it is the drawn task (the task the queue served
    first); after the last label the next draw is the new head of the queue.
    """
    y, replay = replay_order(task_ids, labels, choices)
    fit_key = repr((strategy, seed, sorted((params or {}).items()), delta, history, choices.n_classes))
    total = len(replay)
    state = _replay_start(previous, fit_key, task_ids, matrix, replay, strategy, seed, params, choices, delta)
    s, side, tops, kept = state.strategy, state.side, state.tops, state.kept
    draws = hasattr(s, "draw")
    marks = checkpoint_marks(total)
    pending_draw = state.pending
    for n, (_, i, cls) in enumerate(replay[state.n:], start=state.n + 1):
        if draws and not pending_draw:
            s.draw()
        pending_draw = False
        s.observe(matrix[i], cls, query_probability=1.0, item=i)
        if side is not None:
            side.observe(i, cls)
        tops[n] = np.array(s.p_top(), dtype=float)
        if n in marks and n < total:
            kept.append(Checkpoint(n, *frozen_state(s, side, kept), False, _tail(tops, n, history)))
    p_history = [tops[n] for n in range(max(total - history, 1), total)]
    labelled = y >= 0
    info, head = _queue_scores(s, matrix, labelled, draws)
    if not task_ids.size:
        gap = np.zeros(matrix.shape[1])
    else:
        gap = s.gap() if draws else side.gap()
    if total:
        kept.append(Checkpoint(total, *frozen_state(s, side, kept), draws and head is not None,
                               _tail(tops, total, history)))
    return Belief(strategy=s, task_ids=task_ids, predictions=matrix, labels=y, informativeness=info,
                  priority=priorities(np.nan_to_num(info, nan=-np.inf), labelled), n_labels=len(labels),
                  model_version=model_version(project, labels, strategy, seed, pool_fingerprint, round_, task_ids),
                  p_history=np.asarray(p_history, dtype=float).reshape(len(p_history), matrix.shape[1]),
                  gap=gap, head=head, replay=tuple(replay), fit_key=fit_key,
                  checkpoints=tuple(_thin(kept, total)))


@dataclasses.dataclass
class _ReplayStart:
    """Where a replay starts: after ``n`` labels, with that state (a private copy) and the checkpoints kept."""

    n: int
    strategy: Any
    side: GapCertificate | None
    tops: dict
    pending: bool
    kept: list


def _replay_start(previous: Belief | None, fit_key: str, task_ids: np.ndarray, matrix: np.ndarray,
                  replay: list, strategy: str, seed: int, params: dict | None, choices: ChoicesControl,
                  delta: float) -> _ReplayStart:
    """Continue from the latest checkpoint of ``previous`` this replay shares, or start a fresh strategy."""
    start = _resume_point(previous, fit_key, task_ids, matrix, replay)
    if start is not None:
        return _ReplayStart(start.n, copy.deepcopy(start.strategy), copy.deepcopy(start.side), dict(start.tops),
                            start.pending, [c for c in previous.checkpoints if c.n <= start.n])
    s = core.make(strategy, matrix.shape[1], choices.n_classes, random_state=seed, **(params or {}))
    if task_ids.size:  # before any task is known the prior stands (some strategies refuse an empty pool)
        s.set_pool(matrix, None)
    side = None if hasattr(s, "draw") or not task_ids.size else GapCertificate(matrix, delta)
    return _ReplayStart(0, s, side, {}, False, [])


def _queue_scores(s, matrix: np.ndarray, labelled: np.ndarray, draws: bool) -> tuple[np.ndarray, int | None]:
    """``(informativeness, head)``: the strategy's score of each unlabelled task ``(n_tasks,)`` (NaN where
    labelled) and, for a strategy that draws, the drawn task, served first."""
    info = np.full(matrix.shape[0], np.nan)
    head = None
    if (~labelled).any():
        info[~labelled] = np.asarray(s.score(matrix[~labelled], None), dtype=float)
        if draws:
            head = s.draw()
            if head is not None:   # the drawn task is served first, then the informativeness order
                info[head] = np.nanmax(info) + 1.0
    return info, head


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A private, read-only copy of the replay's state after its first ``n`` labels, to continue a later fit
    from (a copy of it: :func:`_replay_start`); its unchanged arrays are shared with the checkpoint before
    (:mod:`backend.checkpoint_copy`).

    ``pending``: the draw before label ``n + 1`` was made already (the final state, after the head
    draw).  ``tops``: ``{label count: (n_models,) p_top}`` after labels ``n - history .. n``.
    """

    n: int
    strategy: core.Strategy
    side: GapCertificate | None
    pending: bool
    tops: dict


def checkpoint_marks(total: int) -> set[int]:
    """Label counts kept as checkpoints after a replay of ``total`` labels: ``total - 2**k`` and ``total``.

    Labels confirmed out of annotation-id order (concurrent annotators) change the replay a few labels
    back; ``O(log n)`` checkpoints let the next fit resume close behind the change.
    """
    marks, k = {total}, 0
    while total - 2 ** k >= 1:
        marks.add(total - 2 ** k)
        k += 1
    return marks


def _tail(tops: dict, n: int, history: int) -> dict:
    return {m: tops[m] for m in range(max(n - history, 1), n + 1) if m in tops}


def _thin(checkpoints: list[Checkpoint], total: int) -> list[Checkpoint]:
    """For each mark of :func:`checkpoint_marks`, the latest checkpoint at or before it."""
    by_n = sorted({c.n: c for c in checkpoints}.values(), key=lambda c: c.n)
    keep = {}
    for mark in checkpoint_marks(total):
        at = [c for c in by_n if c.n <= mark]
        if at:
            keep[at[-1].n] = at[-1]
    return [keep[n] for n in sorted(keep)]


def replay_order(task_ids: np.ndarray, labels: list[Label], choices: ChoicesControl
                 ) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """``(y, replay)``: ``(n_tasks,)`` class per task (-1 unlabelled) and the labels in replay order,
    ``(first annotation id, row, class)`` sorted by the task's first annotation id."""
    per_task = task_labels(labels, choices)
    y = np.full(task_ids.size, -1, dtype=np.int64)
    replay = []
    for task, (cls, first) in per_task.items():
        i = int(np.searchsorted(task_ids, task))
        if i < task_ids.size and task_ids[i] == task:
            y[i] = cls
            replay.append((first, i, int(cls)))
    return y, sorted(replay)


def _resume_point(previous: Belief | None, fit_key: str, task_ids: np.ndarray, matrix: np.ndarray,
                  replay: list[tuple[int, int, int]]) -> Checkpoint | None:
    """The latest checkpoint of ``previous`` this replay can continue from: same strategy and parameters
    (``fit_key``), same tasks and predictions, and the checkpoint's labels the first ones of this replay
    (at least one label left to replay)."""
    if previous is None or not previous.checkpoints or previous.fit_key != fit_key:
        return None
    if previous.task_ids.shape != task_ids.shape or not np.array_equal(previous.task_ids, task_ids):
        return None
    if previous.predictions is not matrix and not np.array_equal(previous.predictions, matrix):
        return None
    shared = 0
    for old, new in zip(previous.replay, replay):
        if old != new:
            break
        shared += 1
    usable = [c for c in previous.checkpoints if c.n <= shared and c.n < len(replay)]
    return usable[-1] if usable else None


def ranking_records(belief: Belief, candidates: list[str]) -> list[dict]:
    """Per candidate, best first: rank, name, P(best), P(a true best), the certified bound ``gap``
    (accuracy points below the best it is guaranteed not to exceed), accuracy with its 95% interval, labels used."""
    out = []
    for record in belief.strategy.ranking().to_records(candidates):
        name = record.pop("model")
        index = record.pop("index")
        gap = None if belief.gap is None else float(belief.gap[index])
        out.append({"rank": record.pop("rank"), "name": name, **record, "gap": gap})
    return out
