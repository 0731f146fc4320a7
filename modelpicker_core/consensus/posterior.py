"""The posterior of the unlabelled classes: a mixture of Dawid-Skene components, per pattern.

Layer 1 (:mod:`.dawid_skene`) gives each pattern's class posterior for one
(voter set, temperature) component; layer 2 (:class:`PatternLayer`) turns it
into the posterior of the pattern's class distribution given the pattern's
own labels; the components are weighted by leave-one-out evidence, or drawn
jointly with the recalls (``n_draws``); layer 3 (:mod:`.monte_carlo`) draws
the pool accuracies from the result.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .dawid_skene import ConsensusPrior, OtherClassRates, slot_terms, tempered
from .monte_carlo import PoolDraws, contenders, draw_pool_counts
from .params import ConsensusParams
from .patterns import PoolPatterns
from .tally import LabelTally
from .voters import RecallPosterior, component_evidence, leave_one_out, voter_sets


@dataclass(frozen=True)
class ClassPosterior:
    """The posterior of the unlabelled classes (and the Monte Carlo accuracies) for one state of the labels.

    Attributes
    ----------
    voter_sets : annotator masks ``(n_annot,)`` of the voter counts (None = every model).
    components : ``(voter set index, temperature)`` of each grid component.
    component_weight : ``(n_components,)`` leave-one-out evidence weight of each component.
    slot_qs : ``(T, n_slots)`` posterior class probability of an unlabelled
        item of each slot's pattern, per grid component (``n_draws == 0``)
        or per posterior draw.
    sample_weight : ``(T,)`` weight of each row of ``slot_qs``.
    slot_q : ``(n_slots,)`` their mixture, ``sample_weight @ slot_qs``.
    concentration : ``(n_groups,)`` Dirichlet concentration of each pattern's class distribution.
    mean, var : ``(n_models,)`` mean and variance of each model's pool correct count.
    n_total : labels plus unlabelled pool items (the accuracy denominator).
    rates : learned rates of "a class no model predicts", or None (``other_rate`` off).
    draws : the Monte Carlo draws and P(best).
    """

    voter_sets: list
    components: list
    component_weight: np.ndarray
    slot_qs: np.ndarray
    sample_weight: np.ndarray
    slot_q: np.ndarray
    concentration: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    n_total: float
    rates: OtherClassRates | None
    draws: PoolDraws


@dataclass(frozen=True)
class PatternLayer:
    """Layer 2: a pattern's class distribution ``phi_g ~ Dirichlet(strength * p_g + labels of g)``.

    ``concentration`` ``(n_groups,)`` is ``strength +`` the pattern's labels;
    the slot arrays ``(n_slots,)`` hold each slot's labels, its pattern's
    unlabelled items and their Dirichlet-multinomial overdispersion (0 on
    unanimous patterns, where every model gains or loses together).
    """

    strength: float
    concentration: np.ndarray
    slot_group: np.ndarray
    slot_labels: np.ndarray
    slot_unlabelled: np.ndarray
    slot_overdispersion: np.ndarray
    model_slots: Any

    @classmethod
    def of(cls, pat: PoolPatterns, tally: LabelTally, strength: float) -> PatternLayer:
        conc = strength + tally.group                                                   # (G,)
        m = tally.unlabelled
        overdisp = m * (conc + m) / (conc + 1.0) * pat.disagree
        return cls(strength, conc, pat.slot_group, tally.slot, m[pat.slot_group], overdisp[pat.slot_group],
                   pat.model_slots)

    def correct_moments(self, slot_p: np.ndarray, correct: np.ndarray):
        """``(slot_q (n_slots,), mean (n_models,), var (n_models,))`` of the pool correct counts.

        ``slot_p`` ``(n_slots,)`` is layer 1's posterior; ``slot_q`` the
        predictive of an unlabelled item given the pattern's labels.  Two sparse
        matrix-vector products: each output sums its row's entries in the same
        order as one product with the two columns stacked (the same numbers), in
        about half the time.
        """
        slot_q = (self.strength * slot_p + self.slot_labels) / self.concentration[self.slot_group]
        mean = self.model_slots @ (self.slot_unlabelled * slot_q)
        var = self.model_slots @ (self.slot_overdispersion * slot_q * (1 - slot_q))
        return slot_q, correct + mean, var


def compute_posterior(pat: PoolPatterns, prior: ConsensusPrior, tally: LabelTally, correct: np.ndarray,
                   n_labels: int, sample_seed: int, params: ConsensusParams) -> ClassPosterior:
    """The posterior after ``n_labels`` labels (``correct`` ``(n_models,)`` their per-model correct counts).

    Deterministic given ``sample_seed`` and ``n_labels``: the posterior
    draws use ``[sample_seed, n_labels, 1]``, the Monte Carlo step
    ``[sample_seed, n_labels]``.
    """
    posterior = RecallPosterior.of(prior, tally, params.prior_strength)
    mean_param, mean_prior = posterior.mean()
    rates = None if params.other_rate is None else other_class_rates(pat, tally, params, prior.class_prior.size)
    sets = voter_sets(mean_param, mean_prior, params.voter_counts, correct.size, pat.n_bins)
    components = [(v, tau) for v in range(len(sets)) for tau in params.temperatures]
    layer = PatternLayer.of(pat, tally, params.group_strength)
    n_draws = effective_draws(params.n_draws, pat.n_cells)
    if n_draws == 0:
        log_weight, slot_qs, means, second = _mean_components(pat, prior, tally, layer, mean_param, mean_prior,
                                                              sets, components, rates, correct)
    else:
        log_weight = component_evidence(pat, prior, tally, mean_param, mean_prior, sets, components,
                                        params.group_strength, rates)
    weight = np.exp(log_weight - log_weight.max())
    weight /= weight.sum()
    component_weight = weight
    if n_draws > 0:
        draw_rng = np.random.default_rng([sample_seed, int(n_labels), 1])
        picked = draw_rng.choice(len(components), size=n_draws, p=weight)
        slot_qs, means, second = _drawn_components(pat, prior, layer, posterior, sets,
                                                   [components[c] for c in picked], rates, correct, draw_rng)
        weight = np.full(n_draws, 1.0 / n_draws)
    mean = weight @ np.array(means)
    var = np.maximum(weight @ np.array(second) - mean ** 2, 0.0)
    slot_qs = np.array(slot_qs)                                                         # (T, n_slots)
    cont = contenders(mean, var, params.contender_z, params.max_contenders)
    draws = draw_pool_counts(pat, tally.unlabelled, correct, cont, slot_qs, weight, layer.concentration,
                             params.n_samples, params.exact_limit,
                             np.random.default_rng([sample_seed, int(n_labels)]))
    return ClassPosterior(voter_sets=sets, components=components, component_weight=component_weight, slot_qs=slot_qs,
                  sample_weight=weight, slot_q=weight @ slot_qs, concentration=layer.concentration, mean=mean,
                  var=var, n_total=n_labels + 0.0 + tally.unlabelled.sum(), rates=rates, draws=draws)


def _mean_components(pat, prior, tally, layer, mean_param, mean_prior, sets, components, rates, correct):
    """Each grid component at the posterior-mean recalls: log evidence ``(n_components,)`` and,
    per component, the slot predictive and the first two moments of the correct counts."""
    log_weight = np.zeros(len(components))
    slot_qs, means, second = [], [], []
    terms_of_set = {}
    for c, (v, tau) in enumerate(components):
        if v not in terms_of_set:
            terms_of_set[v] = slot_terms(pat, prior.error_freq, mean_param, mean_prior, voters=sets[v])
        slot_p, other_p = tempered(terms_of_set[v], tau, pat, mean_prior.size, rates)
        slot_q, mean_t, var_t = layer.correct_moments(slot_p, correct)
        log_weight[c] = leave_one_out(slot_p, other_p, pat.slot_group, tally.slot, tally.other, tally.group,
                                      layer.strength)
        slot_qs.append(slot_q)
        means.append(mean_t)
        second.append(var_t + mean_t ** 2)
    return log_weight, slot_qs, means, second


def _drawn_components(pat, prior, layer, posterior, sets, picked, rates, correct, rng):
    """For each picked (voter set, temperature), a joint posterior draw of the recalls and class
    prior: the slot predictive and the first two moments of the correct counts."""
    slot_qs, means, second = [], [], []
    for v, tau in picked:
        recall, class_prior = posterior.draw(rng)
        terms = slot_terms(pat, prior.error_freq, recall, class_prior, voters=sets[v])
        slot_p, _ = tempered(terms, tau, pat, class_prior.size, rates)
        slot_q, mean_t, var_t = layer.correct_moments(slot_p, correct)
        slot_qs.append(slot_q)
        means.append(mean_t)
        second.append(var_t + mean_t ** 2)
    return slot_qs, means, second


def effective_draws(n_draws: int, n_cells: int) -> int:
    """Posterior draws used for a pool of ``n_cells`` prediction cells: ``n_draws``, fewer on big pools.

    Each draw costs a pass over the ``n_groups * n_models`` prediction
    cells; above 31,250 cells the count falls as ``500,000 / cells`` (never
    below 2): 16 for EmoContext pools, 5 for 1,000 items x 100 models,
    2 for 10,000 distinct rows x 100 models.
    """
    if n_draws == 0:
        return 0
    return int(min(n_draws, max(2, 500_000 // max(n_cells, 1))))


def unanimous_posterior(pat: PoolPatterns, tally: LabelTally, unanimous_rate: tuple[float, float]):
    """Beta posterior ``(a, b)`` of the rate at which a unanimous pattern's class is not the predicted one."""
    unanimous = pat.n_slots_of == 1
    a, b = unanimous_rate
    wrong = float(tally.other[unanimous].sum())
    return a + wrong, b + float(tally.group[unanimous].sum()) - wrong


def other_class_rates(pat: PoolPatterns, tally: LabelTally, params: ConsensusParams,
                      n_classes: int) -> OtherClassRates:
    """Posterior means of the ``other_rate`` (disagreement patterns with room for another class)
    and ``unanimous_rate`` Beta priors, updated by the labels on such patterns."""
    open_dis = (pat.n_slots_of > 1) & (pat.n_slots_of < n_classes)
    n_other = float(tally.other[open_dis].sum())
    n_open = float(tally.group[open_dis].sum())
    a, b = params.other_rate
    disagreement = (a + n_other) / (a + b + n_open)
    a, b = unanimous_posterior(pat, tally, params.unanimous_rate)
    return OtherClassRates(disagreement=disagreement, unanimous=a / (a + b))
