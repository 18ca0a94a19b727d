"""Rule-based CheXpert-style report labeler: 14 findings with negation and uncertainty."""

from lakehouse.labeler.labeler import (
    LABELER_NAME,
    aggregate,
    label_report,
    label_text,
    mentions,
    positive_sentences,
)
from lakehouse.labeler.rules import Mention, split_sentences

__all__ = [
    "LABELER_NAME",
    "Mention",
    "aggregate",
    "label_report",
    "label_text",
    "mentions",
    "positive_sentences",
    "split_sentences",
]
