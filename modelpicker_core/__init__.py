"""modelpicker_core: active model selection for pre-trained classifiers.

Arrays in, arrays out: predictions are an ``(n_items, n_models)`` integer
matrix in one label space ``0 .. n_classes-1``, labels are integers.
"""
from .base import Ranking, Strategy
from .baselines import DisagreementSampling, RandomSampling, VoteEntropySampling
from .certified import Certified
from .consensus import Consensus
from .model_selector import ModelSelector
from .modelpicker import ModelPicker
from .registry import available, from_state, get, make, register

register(ModelPicker)
register(RandomSampling)
register(DisagreementSampling)
register(VoteEntropySampling)
register(ModelSelector)
register(Consensus)
register(Certified)

__all__ = [
    "Ranking", "Strategy", "ModelPicker", "RandomSampling", "DisagreementSampling",
    "VoteEntropySampling", "ModelSelector", "Consensus", "Certified", "available", "from_state", "get", "make",
    "register",
]
