"""A small multinomial logistic regression over sentence embeddings, fit deterministically in NumPy.

Why not a downloaded classifier: the router must be fit from the labelled requests in the
repository, offline, and give the same weights on every machine. Full-batch gradient descent
from zero weights on a fixed, ordered training set has no randomness, and a few hundred
384-d examples fit in well under a second. Why not scikit-learn: it would add SciPy and
scikit-learn to the install for forty lines of arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class SoftmaxClassifier:
    """Multinomial logistic regression with L2 penalty; ``predict_proba`` returns one row per text."""

    def __init__(self, labels: Sequence[str], weights: np.ndarray, bias: np.ndarray) -> None:
        self.labels = list(labels)
        self.weights = weights
        self.bias = bias

    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        targets: Sequence[str],
        *,
        l2: float = 1e-4,
        steps: int = 300,
        learning_rate: float = 8.0,
    ) -> SoftmaxClassifier:
        """Fit on ``features`` (n x d, float32) and string ``targets``; deterministic for a given input order."""
        labels = sorted(set(targets))
        if len(labels) < 2:
            raise ValueError("a classifier needs at least two labels")
        index = {label: i for i, label in enumerate(labels)}
        y = np.zeros((len(targets), len(labels)), dtype=np.float64)
        y[np.arange(len(targets)), [index[t] for t in targets]] = 1.0
        x = features.astype(np.float64)
        # Class weights: each task counts the same however many examples it has.
        counts = y.sum(axis=0)
        sample_weight = (y @ (len(targets) / (len(labels) * counts)))[:, None]
        w = np.zeros((x.shape[1], len(labels)))
        b = np.zeros(len(labels))
        n = float(len(targets))
        for _ in range(steps):
            probs = _softmax(x @ w + b)
            grad = sample_weight * (probs - y) / n
            w -= learning_rate * (x.T @ grad + l2 * w)
            b -= learning_rate * grad.sum(axis=0)
        return cls(labels, w.astype(np.float32), b.astype(np.float32))

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities, columns in :attr:`labels` order."""
        return _softmax(features.astype(np.float64) @ self.weights + self.bias)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
