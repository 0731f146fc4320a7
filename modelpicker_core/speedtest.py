"""Speed and memory of scoring: vectorised strategies against per-item Python loops.

:func:`run_speed` builds a random, correlated prediction matrix, times one
*round* of a strategy (score every item, then take one label and update the
posterior) with the vectorised code, times the same round item by item in
pure Python on a subset, and reports items per second, the ratio, the
largest difference between the two results on the subset, and the peak
memory of the process.

Two pure-Python references are timed for each strategy that has them:

``loop``
    the published formula item by item, over every class of the label space
    (what the public ModelPicker experiment code computes per item, and what
    the Model Selector code computes per class);
``fast loop``
    the same numbers from a per-item dictionary of the classes the models
    actually predict (``O(n_models)`` per item instead of
    ``O(n_models * n_classes)``): the best a per-item Python loop can do.

Both references are also the exactness oracles of the unit tests.
"""
from __future__ import annotations

import math
import resource
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import registry
from .modelpicker import ModelPicker
from .votes import compact_predictions

#: strategies with pure-Python per-item references
LOOP_STRATEGIES = ("modelpicker", "model_selector")
#: work (models x classes x items) of the default literal-loop subset
LOOP_WORK = 2_000_000
#: labels taken before a timed round, so the belief is not uniform
PREPARED_LABELS = 20


# ------------------------------------------------------------------ data
def generate_predictions(n_items: int, n_models: int, n_classes: int, seed: int = 0,
                         ) -> tuple[np.ndarray, np.ndarray]:
    """A random ``(n_items, n_models)`` prediction matrix and ``(n_items,)`` true labels.

    Model ``i`` predicts the true class with probability ``acc_i`` (spread
    evenly over 0.5..0.9) and a uniformly random class otherwise, so models
    agree on many items and disagree on the rest, as real pools do.  Built in
    blocks in the compact dtype of :func:`compact_predictions`, so memory
    stays near the size of the result.
    """
    rng = np.random.default_rng(seed)
    accuracy = rng.permutation(np.linspace(0.5, 0.9, n_models))
    dtype = np.int16 if n_classes <= np.iinfo(np.int16).max else np.int32
    predictions = np.empty((n_items, n_models), dtype=dtype)
    labels = np.empty(n_items, dtype=np.int64)
    block = max(1, (1 << 20) // n_models)
    for start in range(0, n_items, block):
        stop = min(n_items, start + block)
        truth = rng.integers(0, n_classes, stop - start)
        noise = rng.integers(0, n_classes, (stop - start, n_models), dtype=dtype)
        right = rng.random((stop - start, n_models)) < accuracy
        predictions[start:stop] = np.where(right, truth[:, None].astype(dtype), noise)
        labels[start:stop] = truth
    return predictions, labels


# ------------------------------------------------- per-item references
def loop_query_probability(rows: Sequence[Sequence[int]], weights: Sequence[float], n_classes: int,
                           scaling: float, eta: float, floor: bool = True) -> list[float]:
    """ModelPicker's ``u_t`` item by item, literally: ``l_c`` for every class ``c``."""
    out = []
    for row in rows:
        if all(p == row[0] for p in row):
            out.append(0.0)
            continue
        best = 0.0
        for c in range(n_classes):
            loss = 0.0
            for p, w in zip(row, weights):
                if p != c:
                    loss += w
            best = max(best, loss * (1.0 - loss))
        u = scaling * best
        if floor:
            u = max(u, eta)
        out.append(min(u, 1.0))
    return out


def fast_loop_query_probability(rows: Sequence[Sequence[int]], weights: Sequence[float],
                                scaling: float, eta: float, floor: bool = True) -> list[float]:
    """ModelPicker's ``u_t`` item by item from the masses of the predicted classes only."""
    out = []
    for row in rows:
        mass: dict[int, float] = {}
        for p, w in zip(row, weights):
            mass[p] = mass.get(p, 0.0) + w
        if len(mass) == 1:
            out.append(0.0)
            continue
        u = scaling * max(m * (1.0 - m) for m in mass.values())
        if floor:
            u = max(u, eta)
        out.append(min(u, 1.0))
    return out


def _entropy_bits(p: Sequence[float]) -> float:
    return -sum(x * math.log2(x) for x in p if x > 0.0)


def loop_information_gain(rows: Sequence[Sequence[int]], weights: Sequence[float], n_classes: int,
                          epsilon: float, class_prior: str = "posterior") -> list[float]:
    """Model Selector's score item by item, every class literally.

    The gain ``H(w) - sum_c P(c) H(w | c)`` in bits; items where every model
    agrees get ``-(log2(n_models) + 1)`` as in :class:`ModelSelector`.
    """
    gamma = (1.0 - epsilon) / epsilon
    prior_entropy = _entropy_bits(weights)
    agreement_score = -(math.log2(len(weights)) + 1.0)
    out = []
    for row in rows:
        if all(p == row[0] for p in row):
            out.append(agreement_score)
            continue
        expected = 0.0
        for c in range(n_classes):
            updated = [w * (gamma if p == c else 1.0) for p, w in zip(row, weights)]
            z = sum(updated)
            if class_prior == "uniform":
                p_c = 1.0 / n_classes
            else:
                mass = sum(w for p, w in zip(row, weights) if p == c)
                p_c = (epsilon + (1.0 - 2.0 * epsilon) * mass) / (1.0 + (n_classes - 2) * epsilon)
            expected += p_c * _entropy_bits([u / z for u in updated])
        out.append(prior_entropy - expected)
    return out


def fast_loop_information_gain(rows: Sequence[Sequence[int]], weights: Sequence[float], n_classes: int,
                               epsilon: float, class_prior: str = "posterior") -> list[float]:
    """Model Selector's gain item by item over the predicted classes only (closed form per class)."""
    gamma = (1.0 - epsilon) / epsilon
    log_gamma = math.log2(gamma)
    w_log_w = [w * math.log2(w) if w > 0.0 else 0.0 for w in weights]
    s = sum(w_log_w)
    agreement_score = -(math.log2(len(weights)) + 1.0)
    out = []
    for row in rows:
        mass: dict[int, list[float]] = {}
        for p, w, wl in zip(row, weights, w_log_w):
            acc = mass.setdefault(p, [0.0, 0.0])
            acc[0] += w
            acc[1] += wl
        if len(mass) == 1:
            out.append(agreement_score)
            continue
        gain = 0.0
        for m, t in mass.values():
            z = 1.0 + (gamma - 1.0) * m
            h_c = math.log2(z) - (s + (gamma - 1.0) * t + gamma * log_gamma * m) / z
            if class_prior == "uniform":
                p_c = 1.0 / n_classes
            else:
                p_c = (epsilon + (1.0 - 2.0 * epsilon) * m) / (1.0 + (n_classes - 2) * epsilon)
            gain += p_c * (-s - h_c)
        out.append(gain)
    return out


# ------------------------------------------------------------- timing
def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (``ru_maxrss``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def _n_prepared(n_items: int) -> int:
    """Labels taken before timing: ``PREPARED_LABELS``, leaving at least one item unlabelled."""
    return max(0, min(PREPARED_LABELS, n_items - 1))


def _prepared(strategy: str, predictions: np.ndarray, labels: np.ndarray, n_classes: int, seed: int):
    """A strategy with a non-uniform belief: labels taken on the first items.

    The whole matrix is given as the pool first (:meth:`~.base.Strategy.set_pool`)
    and each label names its pool row: the pool strategies (``consensus``,
    ``certified``) refuse labels and scores without them; the others ignore both.
    """
    s = registry.make(strategy, predictions.shape[1], n_classes, random_state=seed)
    s.set_pool(predictions)
    for j in range(_n_prepared(predictions.shape[0])):
        s.observe(predictions[j], int(labels[j]), item=j)
    return s


def _vectorised_round(s, predictions: np.ndarray, labels: np.ndarray, skip: int = 0) -> np.ndarray:
    """Score every item, then take the label of the top item after the first ``skip`` (the timed unit).

    ``skip`` is the number of items already labelled by :func:`_prepared`; a
    pool strategy refuses a second label of the same item.
    """
    if isinstance(s, ModelPicker):
        scores = s.query_probability(predictions)
    else:
        scores = s.score(predictions)
    j = skip + int(np.argmax(scores[skip:])) if skip < scores.shape[0] else int(np.argmax(scores))
    q = float(scores[j]) if isinstance(s, ModelPicker) and scores[j] > 0 else 1.0
    s.observe(predictions[j], int(labels[j]), query_probability=q, item=j)
    return scores


def _loop_round(s, rows: list, labels: list, fast: bool) -> tuple[list[float], list[float]]:
    """The same round in pure Python on ``rows``: score each item, update the posterior once.

    Returns the scores and the updated posterior.
    """
    weights = s.p_best().tolist()
    if isinstance(s, ModelPicker):
        if fast:
            scores = fast_loop_query_probability(rows, weights, s.scaling, s.eta(), s.floor)
        else:
            scores = loop_query_probability(rows, weights, s.n_classes, s.scaling, s.eta(), s.floor)
        j = max(range(len(scores)), key=scores.__getitem__)
        q = scores[j] if scores[j] > 0 else 1.0
        loss = [cum + (p != labels[j]) / q for cum, p in zip(s.loss_.tolist(), rows[j])]
        eta = s.eta(s.t_ + 1)
        low = min(loss)
        posterior = [math.exp(-eta * (cum - low)) for cum in loss]
    else:
        gain = fast_loop_information_gain if fast else loop_information_gain
        scores = gain(rows, weights, s.n_classes, s.epsilon, s.class_prior)
        j = max(range(len(scores)), key=scores.__getitem__)
        posterior = [w * (s.gamma if p == labels[j] else 1.0) for w, p in zip(weights, rows[j])]
    total = sum(posterior)
    return scores, [p / total for p in posterior]


def _best_time(setup: Callable[[], Any], func: Callable[[Any], Any], repeats: int) -> tuple[float, Any]:
    """Best wall time of ``func(setup())`` over ``repeats`` runs (setup not timed), and its result."""
    best, result = math.inf, None
    for _ in range(repeats):
        subject = setup()
        start = time.perf_counter()
        result = func(subject)
        best = min(best, time.perf_counter() - start)
    return best, result


def run_speed(n_items: int, n_models: int, n_classes: int, seed: int = 0,
              loop_items: int | None = None, strategy: str = "modelpicker",
              repeats: int = 3) -> dict[str, Any]:
    """Time one scoring round, vectorised and item by item; measure peak memory.

    Parameters
    ----------
    n_items, n_models, n_classes : size of the random prediction matrix.
    seed : seed of the matrix and of the strategy.
    loop_items : items in the pure-Python subsets; default: as many as keep
        the literal loop near ``LOOP_WORK`` operations (at least 20, at most
        2,000) and up to 20,000 for the fast loop.
    strategy : registry name; per-item references exist for ``modelpicker``
        and ``model_selector`` (others are timed vectorised only).
    repeats : each timing is the best of this many runs (the machine may be
        shared; the minimum is the least disturbed run).

    Returns
    -------
    dict with the sizes, ``vectorised_seconds`` and ``vectorised_items_per_second``
    for the whole matrix, ``loop_*`` / ``fast_loop_*`` (items, seconds,
    items per second, ``speedup`` = vectorised / loop items per second, and
    ``max_abs_difference`` from the vectorised scores on the same items; None
    when the strategy has no reference), ``predictions_mb`` and ``peak_rss_mb``.
    """
    _check_speed_args(n_items, n_models, n_classes, loop_items, strategy, repeats)
    predictions, labels = generate_predictions(n_items, n_models, n_classes, seed)
    predictions = compact_predictions(predictions, n_models, n_classes)
    def prepare():
        return _prepared(strategy, predictions, labels, n_classes, seed)

    skip = _n_prepared(n_items)
    seconds, _ = _best_time(prepare, lambda s: _vectorised_round(s, predictions, labels, skip), repeats)
    result: dict[str, Any] = {
        "strategy": strategy, "n_items": n_items, "n_models": n_models, "n_classes": n_classes,
        "seed": seed, "dtype": str(predictions.dtype),
        "vectorised_seconds": seconds, "vectorised_items_per_second": n_items / seconds,
    }
    for kind in ("loop", "fast_loop"):
        result.update({f"{kind}_items": None, f"{kind}_seconds": None, f"{kind}_items_per_second": None,
                       f"{kind}_speedup": None, f"{kind}_max_abs_difference": None})
    if strategy in LOOP_STRATEGIES:
        literal_items = loop_items or max(20, min(2000, LOOP_WORK // (n_models * n_classes)))
        for kind, fast, m in (("loop", False, literal_items), ("fast_loop", True, loop_items or 20000)):
            result.update(_loop_timing(kind, fast, min(int(m), n_items), prepare, predictions, labels, repeats,
                                       n_items / seconds))
    result["predictions_mb"] = predictions.nbytes / 2**20
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def _check_speed_args(n_items: int, n_models: int, n_classes: int, loop_items: int | None, strategy: str,
                      repeats: int) -> None:
    """Raise ``ValueError`` for a size, repeat count or strategy :func:`run_speed` cannot use."""
    for label, value, low in (("items", n_items, 1), ("models", n_models, 1), ("classes", n_classes, 2),
                              ("repeats", repeats, 1)):
        if int(value) != value or value < low:
            raise ValueError(f"{label} must be an integer >= {low}, got {value}")
    if loop_items is not None and (int(loop_items) != loop_items or loop_items < 1):
        raise ValueError(f"loop items must be an integer >= 1, got {loop_items}")
    registry.get(strategy)  # unknown names fail here, with the list of known ones


def _loop_timing(kind: str, fast: bool, m: int, prepare: Callable[[], Any], predictions: np.ndarray,
                 labels: np.ndarray, repeats: int, vectorised_rate: float) -> dict[str, Any]:
    """The ``{kind}_*`` fields of :func:`run_speed`: the round in pure Python on the first ``m`` items."""
    rows, row_labels = predictions[:m].tolist(), labels[:m].tolist()
    s = prepare()
    loop_seconds, (loop_scores, _) = _best_time(
        lambda s=s: s, lambda s: _loop_round(s, rows, row_labels, fast), repeats)
    reference = _vectorised_round(s, predictions[:m], labels)  # same belief as the loop used
    return {
        f"{kind}_items": m, f"{kind}_seconds": loop_seconds,
        f"{kind}_items_per_second": m / loop_seconds,
        f"{kind}_speedup": vectorised_rate / (m / loop_seconds),
        f"{kind}_max_abs_difference": float(np.max(np.abs(np.asarray(loop_scores) - reference))),
    }


def format_speed(result: dict[str, Any]) -> str:
    """A small text table of :func:`run_speed`'s result."""
    lines = [
        f"strategy {result['strategy']}: {result['n_items']:,} items x {result['n_models']} models x "
        f"{result['n_classes']} classes ({result['dtype']} predictions, {result['predictions_mb']:.1f} MB)",
        f"{'method':<22}{'items':>12}{'seconds':>11}{'items/s':>14}{'speedup':>10}{'max |diff|':>12}",
        f"{'vectorised (all)':<22}{result['n_items']:>12,}{result['vectorised_seconds']:>11.4f}"
        f"{result['vectorised_items_per_second']:>14,.0f}{'1':>10}{'':>12}",
    ]
    for kind, title in (("loop", "python loop (formula)"), ("fast_loop", "python loop (fast)")):
        if result[f"{kind}_items"] is None:
            lines.append(f"{title:<22}{'n/a (no per-item reference for this strategy)':>59}")
            continue
        lines.append(
            f"{title:<22}{result[f'{kind}_items']:>12,}{result[f'{kind}_seconds']:>11.4f}"
            f"{result[f'{kind}_items_per_second']:>14,.0f}{result[f'{kind}_speedup']:>9.1f}x"
            f"{result[f'{kind}_max_abs_difference']:>12.1e}")
    lines.append("one round = score every item + one label and posterior update; best of repeats")
    lines.append(f"peak memory (process RSS): {result['peak_rss_mb']:.0f} MB")
    return "\n".join(lines)
