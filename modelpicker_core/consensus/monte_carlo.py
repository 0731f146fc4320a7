"""Layer 3: Monte Carlo draws of the contenders' pool accuracies, and P(best) from them.

Only the *contenders* (models whose accuracy interval reaches the leader's)
are drawn, and only on the *live* patterns: those with unlabelled items on
which the contenders disagree (elsewhere every contender gains the same).
On a live pattern, contenders that predict the same class form one
*category*; category ``n_contenders`` is "a class no contender predicts".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .patterns import PoolPatterns


@dataclass(frozen=True)
class PoolDraws:
    """Joint draws of the contenders' correct counts on the pool.

    Attributes
    ----------
    contenders : ``(n_cont,)`` model indices, best estimate first.
    counts : ``(n_samples, n_cont)`` drawn correct counts on the pool.
    groups : ``(n_live,)`` live patterns.
    categories : ``(n_live, n_cont)`` category of each contender (index of
        the first contender predicting the same class), or None when nothing
        is live.
    category_p : ``(n_live, n_cont + 1)`` posterior probability of each category, or None.
    one_item : ``(n_samples, n_live)`` int8 category drawn for one unlabelled
        item of each live pattern, or None (normal approximation).
    jitter : ``(n_samples, n_cont)`` tiny noise that breaks ties in the gain computation.
    p_top : ``(n_models,)`` probability of being *a* best model (ties count for all).
    p_best : ``(n_models,)`` probability of being the best, ties shared.
    """

    contenders: np.ndarray
    counts: np.ndarray
    groups: np.ndarray
    categories: np.ndarray | None
    category_p: np.ndarray | None
    one_item: np.ndarray | None
    jitter: np.ndarray
    p_top: np.ndarray
    p_best: np.ndarray


def contenders(mean: np.ndarray, var: np.ndarray, z: float, max_contenders: int) -> np.ndarray:
    """Models whose ``mean +- z * sd`` interval of correct counts reaches the leader's (at least two)."""
    sd = np.sqrt(var) + 0.5
    lower = mean - z * sd
    order = np.argsort(-mean, kind="stable")
    keep = order[(mean + z * sd)[order] >= lower.max()]
    if keep.size < 2:
        keep = order[:2]
    return keep[:max_contenders]


def draw_pool_counts(pat: PoolPatterns, unlabelled: np.ndarray, correct: np.ndarray, cont: np.ndarray,
                     slot_qs: np.ndarray, sample_weight: np.ndarray, concentration: np.ndarray,
                     n_samples: int, exact_limit: int, rng: np.random.Generator) -> PoolDraws:
    """Draws of the contenders' pool correct counts; P(best) from them.

    ``unlabelled`` ``(n_groups,)`` items left per pattern; ``correct``
    ``(n_models,)`` labelled correct counts; ``slot_qs`` ``(T, n_slots)``
    slot posteriors of the belief's components, weighted ``sample_weight``
    ``(T,)``; ``concentration`` ``(n_groups,)`` of each pattern's Dirichlet.
    Every sample picks a component, then draws each live pattern's class
    counts (Dirichlet-multinomial), or, above ``exact_limit`` cells, the
    counts' central-limit normal approximation.
    """
    n_cont = cont.size
    slots = pat.slot_of[:, cont]                                                        # (G, U)
    live = (unlabelled > 0) & np.any(slots != slots[:, :1], axis=1)
    groups = np.flatnonzero(live)
    counts = np.broadcast_to(correct[cont], (n_samples, n_cont)).copy()
    if n_cont == 1 or groups.size == 0:
        return summarise(cont, counts, groups, None, None, None, rng, correct.size)
    category, category_ps, category_p = category_probabilities(slots[groups], slot_qs, sample_weight)
    component_of = rng.choice(category_ps.shape[0], size=n_samples, p=sample_weight)    # (S,)
    n_left = unlabelled[groups].astype(np.int64)
    if n_samples * groups.size * n_cont > exact_limit:
        counts = normal_counts(concentration[groups], category, category_ps, category_p, n_left, component_of, rng,
                               counts)
        return summarise(cont, counts, groups, category, category_p, None, rng, correct.size)
    one_item = exact_counts(concentration[groups], category, category_ps, n_left, component_of, rng, counts)
    return summarise(cont, counts, groups, category, category_p, one_item, rng, correct.size)


def category_probabilities(live_slots: np.ndarray, slot_qs: np.ndarray, sample_weight: np.ndarray):
    """The contenders' categories on the live patterns and their probabilities.

    ``live_slots`` ``(n_live, n_cont)`` slot of each contender's prediction (rows are distinct patterns, so
    no slot appears in two rows).  Returns ``category`` ``(n_live, n_cont)``, ``category_ps`` ``(T, n_live,
    n_cont + 1)`` per component and ``category_p`` ``(n_live, n_cont + 1)`` their mixture.
    """
    n_live, n_cont = live_slots.shape
    category = first_contender(live_slots)                                              # (Gr, U)
    first = category == np.arange(n_cont)[None, :]
    category_ps = np.zeros((len(sample_weight), n_live, n_cont + 1))
    category_ps[:, :, :n_cont] = np.where(first[None], np.take(slot_qs, live_slots, axis=1), 0.0)
    category_ps[:, :, n_cont] = np.maximum(1.0 - category_ps[:, :, :n_cont].sum(axis=2), 0.0)
    category_ps /= category_ps.sum(axis=2, keepdims=True)
    category_p = sample_weight @ category_ps.reshape(category_ps.shape[0], -1)
    return category, category_ps, category_p.reshape(n_live, n_cont + 1)


def first_contender(live_slots: np.ndarray) -> np.ndarray:
    """``(n_live, n_cont)`` the first contender predicting the same slot as each contender.

    ``argmax(slots[:, :, None] == slots[:, None, :], axis=2)`` without its ``(n_live, n_cont, n_cont)``
    comparisons: the contenders are written to a table by slot from the last to the first, so each slot
    keeps its first one (a slot belongs to one pattern, so rows do not overwrite each other).
    """
    first_of = np.empty(int(live_slots.max()) + 1 if live_slots.size else 0, dtype=np.intp)
    for u in range(live_slots.shape[1] - 1, -1, -1):
        first_of[live_slots[:, u]] = u
    return first_of[live_slots]


def exact_counts(concentration: np.ndarray, category: np.ndarray, category_ps: np.ndarray, n_left: np.ndarray,
                 component_of: np.ndarray, rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """Add each live pattern's drawn correct counts to ``counts`` ``(S, n_cont)`` (in place).

    ``n_left`` ``(n_live,)`` unlabelled items per live pattern.  Returns the
    ``(S, n_live)`` category of one unlabelled item of each pattern per draw.
    Patterns with a single item draw its category directly (the bulk of a
    big pool); the others draw ``phi`` then multinomial counts.
    """
    n_samples, n_cont = counts.shape
    single = n_left == 1
    one_item = None if single.all() else np.empty((n_samples, n_left.size), dtype=np.int8)
    if single.any():
        drawn = _draw_single_items(category_ps[:, single], category[single], component_of, rng, counts)
        if one_item is None:
            one_item = drawn
        else:
            one_item[:, np.flatnonzero(single)] = drawn
    multi = ~single
    if multi.any():
        alpha = concentration[multi, None][None] * category_ps[:, multi][component_of]  # (S, Gm, R)
        phi = rng.gamma(alpha)
        phi /= np.maximum(phi.sum(axis=2, keepdims=True), 1e-300)
        phi[phi.sum(axis=2) == 0, -1] = 1.0
        draws = rng.multinomial(n_left[multi], phi)                                     # (S, Gm, U+1)
        multi_category = np.broadcast_to(category[multi][None], (n_samples,) + category[multi].shape)
        counts += np.take_along_axis(draws, multi_category, axis=2).sum(axis=1)
        u = rng.random((n_samples, int(multi.sum())))[:, :, None] * n_left[multi][None, :, None]
        one_item[:, np.flatnonzero(multi)] = np.minimum((u >= np.cumsum(draws, axis=2)).sum(axis=2), n_cont)
    return one_item


def _draw_single_items(category_ps: np.ndarray, category: np.ndarray, component_of: np.ndarray,
                       rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """``(S, n_single)`` int8 drawn categories of the one-item patterns; their counts added to ``counts``."""
    n_cont = category.shape[1]
    cum = np.cumsum(category_ps, axis=2)                                                # (T, G1, R)
    u = rng.random((component_of.size, category.shape[0]))
    drawn = np.zeros(u.shape, dtype=np.int8)
    for t in range(cum.shape[0]):
        rows = np.flatnonzero(component_of == t)
        if rows.size:
            ut = u[rows]
            bounds = np.ascontiguousarray(cum[t, :, :n_cont].T)                         # (U, G1)
            drawn_t = np.zeros(ut.shape, dtype=np.int8)
            above = np.empty(ut.shape, dtype=bool)
            for r in range(n_cont):   # contiguous bounds, one reused comparison buffer
                drawn_t += np.greater(ut, bounds[r], out=above)
            drawn[rows] = drawn_t
    for r in range(n_cont):
        member = (category == r).astype(np.float32)                                     # (G1, U)
        if member.any():
            counts += (drawn == r).astype(np.float32) @ member
    return drawn


def normal_counts(concentration: np.ndarray, category: np.ndarray, category_ps: np.ndarray,
                  category_p: np.ndarray, n_left: np.ndarray, component_of: np.ndarray, rng: np.random.Generator,
                  counts: np.ndarray) -> np.ndarray:
    """Central-limit draws ``(S, n_cont)`` of the contenders' counts, for pools too big to sample item by item.

    Per component the mean is exact; the covariance, from the mixture's
    class probabilities, sums each live pattern's Dirichlet-multinomial
    covariance of "contender ``u`` is right".  Draws are rounded to whole
    counts so ties keep their meaning.
    """
    n_cont = category.shape[1]
    right_t = at_categories(category_ps, category)                                      # (T, G, U)
    mean_t = counts[0][None, :] + np.einsum("g,tgu->tu", n_left.astype(float), right_t)  # (T, U)
    right = at_categories(category_p, category)                                         # (G, U)
    overdisp = n_left * (concentration + n_left) / (concentration + 1.0)
    same = same_category(category)                                                      # (G, U, U)
    cov = np.einsum("g,guv,gu->uv", overdisp, same, right) - (right * overdisp[:, None]).T @ right
    cov = (cov + cov.T) / 2.0 + 1e-6 * np.eye(n_cont)
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.maximum(vals, 0.0))[None, :]
    z = rng.standard_normal((component_of.size, n_cont))
    return np.round(mean_t[component_of] + z @ root.T)


def at_categories(p: np.ndarray, category: np.ndarray) -> np.ndarray:
    """``(..., G, U)`` ``p[..., g, category[g, u]]`` of ``p`` ``(..., G, R)``.

    ``take_along_axis`` as one flat ``take`` (the same numbers in the same C-ordered array, without the
    broadcast index arrays: a third of the time on 7,500 live patterns x 16 contenders).
    """
    n_groups, width = p.shape[-2:]
    flat = np.arange(n_groups)[:, None] * width + category
    return np.take(p.reshape(p.shape[:-2] + (n_groups * width,)), flat, axis=-1)


def same_category(category: np.ndarray) -> np.ndarray:
    """``(G, U, U)`` bool, ``category[g, u] == category[g, v]``, C-ordered like the broadcast comparison.

    Compared as ``(G, U * U)`` rows of ``int8`` (the categories are below ``U``) instead of a broadcast with
    an inner loop of ``U``: the same array in under half the time.
    """
    n_groups, n_cont = category.shape
    cat = category.astype(np.int8) if n_cont <= np.iinfo(np.int8).max else category
    return (np.repeat(cat, n_cont, axis=1) == np.tile(cat, (1, n_cont))).reshape(n_groups, n_cont, n_cont)


def summarise(cont, counts, groups, category, category_p, one_item, rng: np.random.Generator,
              n_models: int) -> PoolDraws:
    """P(best) and P(top) from the drawn ``counts`` ``(S, n_cont)``; the tie-breaking jitter drawn last."""
    top = counts >= counts.max(axis=1, keepdims=True)                                   # (S, U)
    p_top = np.zeros(n_models)
    p_top[cont] = top.mean(axis=0)
    p_best = np.zeros(n_models)
    p_best[cont] = (top / top.sum(axis=1, keepdims=True)).mean(axis=0)
    jitter = rng.random(counts.shape) * 1e-3
    return PoolDraws(contenders=cont, counts=counts, groups=groups, categories=category,
                     category_p=category_p, one_item=one_item, jitter=jitter, p_top=p_top, p_best=p_best)
