"""Consensus: a pool strategy with a calibrated P(best) on the pool.

The question the strategy answers is "which model has the highest accuracy on
*these* items (the pool)?".  A model's pool accuracy is

    acc_i = (correct_i on the labelled items + sum over unlabelled items j of
             1[f_i(x_j) = y_j]) / n_items,

so the only unknowns are the true classes ``y_j`` of the unlabelled items, and
P(best) is the posterior probability, over those classes, that model ``i``
attains the maximum of ``acc``.

Posterior of the unlabelled classes (three layers)
--------------------------------------------------
1. *Dawid-Skene with per-class recall.*  Each model ``i`` (or, when class
   probabilities are given, each (model, confidence half) "annotator" ``a``)
   has a recall ``theta[a, c] = P(f = c | y = c)``; its errors follow its
   prediction frequencies ``e[a, k]``:
   ``P(f = k | y = c) = (1 - theta[a, c]) e[a, k] / (1 - e[a, c])`` for
   ``k != c``.  The recall posterior is Beta with a prior centred on the
   recall a label-free consensus EM fit finds on the pool's items (the
   full-confusion fit: on its disagreement items), with ``prior_strength``
   pseudo-items, plus the labelled counts; the class
   prior is a Dirichlet the same way.  Per-class recalls make the model robust
   to class imbalance: a minority class gets its own recall instead of being
   swamped by the majority's accuracy.
2. *Exchangeable patterns.*  Items with identical prediction rows are
   exchangeable in a random pool, so their classes are iid draws from one
   unknown distribution ``phi_g``.  ``phi_g ~ Dirichlet(group_strength * p_g +
   labelled counts of g)`` where ``p_g`` is layer 1's posterior.  This is what
   keeps P(best) calibrated when the models' errors are correlated (where
   layer 1 alone is overconfident): a pattern's labels override the model.
3. *Monte Carlo pool accuracies.*  ``n_samples`` joint draws of every
   unlabelled pattern's class counts (Dirichlet-multinomial) give draws of the
   pool accuracies of the *contenders* (models whose accuracy interval reaches
   the leader's); P(best) is the fraction of draws in which a model attains
   the maximum.  The draws use a generator seeded from the strategy's seed and
   the number of labels, so P(best) is a deterministic function of the state.

Two parts of layer 1 are learned from the labels rather than fixed.  The
*voters* (every model, or only the ``k`` of highest estimated accuracy: among
many candidates the weak ones are wrong together on the hard items) and the
temperature form one grid of components weighted by leave-one-out evidence.
The probability that a disagreement item's class is one no model predicts is
a single Beta rate, kept out of the tempering (which would spread mass over
every unpredicted class, 995 of them with 1,000 classes).

Selection
---------
Expected information gain about which model is best from labelling one item
``j`` of pattern ``g``:  ``I(best; y_j) = H(best) - sum_r P(y_j = r) H(best |
y_j = r)``, estimated from the same draws by replacing item ``j``'s sampled
class with each hypothesis ``r`` (and moving the pattern's other unlabelled
items by the posterior-mean shift a label of class ``r`` causes).  Only the
classes the contenders predict matter, and only the patterns on which the
contenders disagree carry information about the ranking (on the others all
contenders gain or lose the same count).  The exact gain is computed for the
``n_evaluated`` patterns of largest proxy
``sum_r q_r w_r (1 - w_r)`` (``w_r`` = P(best) mass of the contenders that
predict class ``r``, ``q_r`` its posterior probability); the proxy orders the
rest.

Modules, in the order of the layers
-----------------------------------
:mod:`.patterns` (the pool's agreement patterns), :mod:`.tally` (label
counts), :mod:`.dawid_skene` (layer 1 and the consensus fit),
:mod:`.voters` (recall posterior, voter sets, component evidence),
:mod:`.posterior` (layer 2 and the mixture), :mod:`.monte_carlo` (layer 3),
:mod:`.information` (selection), :mod:`.params` and :mod:`.strategy` (the
:class:`Consensus` strategy).
"""
from .dawid_skene import ConsensusPrior, OtherClassRates, SlotTerms, logsumexp
from .information import entropy, information_gain, pattern_scores
from .monte_carlo import PoolDraws
from .params import ConsensusParams
from .patterns import PatternSubset, PoolPatterns, confidence_halves
from .posterior import ClassPosterior, PatternLayer, compute_posterior, effective_draws
from .strategy import Consensus
from .tally import LabelTally

__all__ = [
    "ClassPosterior", "Consensus", "ConsensusParams", "ConsensusPrior", "LabelTally", "OtherClassRates", "PatternLayer",
    "PatternSubset", "PoolDraws", "PoolPatterns", "SlotTerms", "compute_posterior", "confidence_halves",
    "effective_draws", "entropy", "information_gain", "logsumexp", "pattern_scores",
]
