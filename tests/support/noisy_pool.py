"""A small seeded pool of candidates of graded accuracy, for the core strategies' unit tests."""
from __future__ import annotations

import numpy as np


def noisy_pool(n_models: int, n_classes: int, n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(predictions (n, n_models), truth (n,))``: candidate j right on each item with probability rising
    linearly from 0.55 (the first) to 0.85 (the last), a uniformly drawn wrong class otherwise."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n)
    right = rng.random((n, n_models)) < np.linspace(0.55, 0.85, n_models)
    preds = np.where(right, truth[:, None], (truth[:, None] + rng.integers(1, n_classes, (n, n_models))) % n_classes)
    return preds, truth
