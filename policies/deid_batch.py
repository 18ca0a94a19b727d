"""Batch de-identification of documents: the library side of ``sagehealth deid --in F.jsonl --out F.jsonl``.

Each input line is ``{"id": ..., "text": ...}`` (optionally ``"patient_key"``, which keys
pseudonyms and date shifts; default: the document id). Input is strict: an unknown field, a
number where a string belongs or a text over :data:`MAX_TEXT_CHARS` is an error naming the line,
never silently dropped or coerced. Results stream in batches, so a large export is not held in
memory; the caller draws the progress bar.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import SageError
from policies.deid import DeidOptions, PhiEntity, Redactor

MAX_TEXT_CHARS = 100_000


class DeidDocument(BaseModel):
    """One document to de-identify."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=256)
    text: str = Field(max_length=MAX_TEXT_CHARS)
    patient_key: str | None = Field(None, min_length=1, max_length=256,
                                    description="Keys pseudonyms and date shifts across a patient's documents (default: id).")


class DeidResult(BaseModel):
    """The de-identified document: text, spans found in the original (no PHI), counts per type."""

    id: str
    text: str
    entities: list[PhiEntity]
    counts: dict[str, int]


class DeidInputError(SageError):
    """An input line is not a valid :class:`DeidDocument`."""


def parse_document(line: str, line_no: int) -> DeidDocument:
    """One JSON line as a :class:`DeidDocument`; :class:`DeidInputError` names the line and the field.

    The offending value is never echoed back: it may be PHI.
    """
    try:
        return DeidDocument.model_validate_json(line)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors(include_input=False))
        raise DeidInputError(f"line {line_no}: {problems}", hint='each line must be {"id": "...", "text": "..."}') from None


def deidentify_documents(docs: Iterable[DeidDocument], options: DeidOptions | None = None, *, redactor: Redactor,
                         batch_size: int = 32) -> Iterator[DeidResult]:
    """De-identify ``docs`` in order, ``batch_size`` at a time (spaCy batches them)."""
    it = iter(docs)
    while batch := list(islice(it, batch_size)):
        texts = [d.text for d in batch]
        found = redactor.analyze_batch(texts, batch_size)
        for doc, entities in zip(batch, found, strict=True):
            text = redactor.apply(doc.text, entities, options, doc.patient_key or doc.id)
            counts = dict(sorted(Counter(e.type for e in entities).items()))
            yield DeidResult(id=doc.id, text=text, entities=entities, counts=counts)
