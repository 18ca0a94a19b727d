"""Errors of the adaptation hub; each names the adapter or file involved and how to fix it."""

from __future__ import annotations

from core.errors import SageError


class AdapterError(SageError):
    """Base class of adapter registry, training and runtime failures."""


class InvalidAdapterNameError(AdapterError):
    """An adapter name that is not a safe folder name."""


class UnknownAdapterError(AdapterError):
    """No adapter of that name is installed."""


class AdapterExistsError(AdapterError):
    """An adapter of that name is already installed."""


class AdapterCorruptError(AdapterError):
    """An installed adapter folder is missing files or holds an unreadable manifest."""


class AdapterBaseMismatchError(AdapterError):
    """The adapter was trained on a different base model than the one it is applied to."""


class TrainingDataError(AdapterError):
    """The training or evaluation examples cannot be used (empty, too long for max_seq_len)."""
