"""Pattern recognizers for the PHI that spaCy's NER misses or mis-types in clinical text.

spaCy tags "58-year-old", "10 mg daily" and "46202" as DATE and an MRN as a date, so the
redactor does not use spaCy's DATE_TIME at all: dates, ages over 89 (HIPAA Safe Harbor keeps
younger ages), MRNs, accession numbers, phones and street addresses come from these patterns.
Presidio is imported only by :func:`build_recognizers` (it is heavy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from presidio_analyzer import PatternRecognizer

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?"
    r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_MONTH_ANYCASE = rf"(?i:{_MONTH})"
# A street suffix list would never be complete (Faker alone has ~200); a house number followed by
# two to four capitalised words, optionally a unit, is what an address line looks like in a note.
_STREET = r"\b\d{1,6}(?: (?!(?:Apt|Suite|Unit)\b)[A-Z][a-z]+){2,4}\b(?:,? (?:Apt\.?|Suite|Unit|#) ?\w+)?"
# Look-behinds keep the label ("MRN:", "Dr.") readable and redact only the value.
_NAME = r"[A-Z][a-z]+(?:['-][A-Z]?[a-z]+)?"
_CITY_STATE_ZIP = r"\b[A-Z][a-z]+(?: [A-Z][a-z]+){0,2}, [A-Z]{2} \d{5}(?:-\d{4})?\b"

# entity -> [(name, regex, score)]
PATTERNS: dict[str, list[tuple[str, str, float]]] = {
    "MRN": [
        ("sage_mrn", r"\bM\d{8}\b", 0.85),
        ("labelled_mrn", r"(?<=\b(?i:MRN|medical record(?: number| no\.?)?)\s*[:#]?\s*)[A-Z]?\d{5,12}\b", 0.85),
    ],
    "ACCESSION": [
        ("sage_accession", r"\bACC\d{6,12}\b", 0.85),
        ("labelled_accession", r"(?<=\b(?i:accession)(?: number| no\.?| #)?\s*[:#]?\s*)[A-Z]{0,4}\d{5,12}\b", 0.85),
    ],
    "DATE": [
        ("numeric_date", r"\b(?:0?[1-9]|1[0-2])[/-](?:0?[1-9]|[12]\d|3[01])[/-](?:\d{4}|\d{2})\b", 0.8),
        ("iso_date", r"\b(?:19|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])\b", 0.85),
        ("month_day_year", rf"\b{_MONTH}\.? (?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?(?:,? (?:19|20)\d{{2}})?\b", 0.8),
        ("day_month_year", rf"\b(?:0?[1-9]|[12]\d|3[01]) {_MONTH_ANYCASE}\.? (?:19|20)\d{{2}}\b", 0.8),
        ("month_year", rf"\b{_MONTH}\.? (?:19|20)\d{{2}}\b", 0.6),
    ],
    "PERSON": [
        ("doctor_name", rf"(?<=\b(?:Dr|Doctor|Dr\.)\s){_NAME}(?:[ -]{_NAME}){{0,2}}\b", 0.85),
        ("labelled_name", rf"(?<=\b(?i:patient|patient name|name|pt)\s*:\s*){_NAME}(?:,? {_NAME}){{0,2}}\b", 0.85),
    ],
    "PHONE_NUMBER": [
        ("us_phone", r"(?:\+1[ -]?)?(?:\(\d{3}\) ?|\b\d{3}[-. ])\d{3}[-.]\d{4}\b", 0.75),
    ],
    "AGE_OVER_89": [
        ("age_years_old", r"(?i)\b(?:9\d|1[0-1]\d)[- ](?:year|yr)s?[- ]old\b", 0.85),
        ("age_labelled", r"(?i)\b(?:age[d:]?|aged)\s+(?:9\d|1[0-1]\d)\b", 0.8),
        ("age_yo", r"(?i)\b(?:9\d|1[0-1]\d)\s?(?:yo|y/o|y\.o\.|yrs?)\b", 0.8),
    ],
    "STREET_ADDRESS": [
        ("street_line", _STREET, 0.6),
        ("city_state_zip", _CITY_STATE_ZIP, 0.7),
    ],
}

CONTEXT: dict[str, list[str]] = {
    "MRN": ["mrn", "record", "medical"],
    "ACCESSION": ["accession", "acc"],
    "PHONE_NUMBER": ["phone", "call", "tel", "telephone", "cell", "pager"],
    "STREET_ADDRESS": ["address", "lives", "resides"],
}


def build_recognizers() -> list[PatternRecognizer]:
    """One Presidio ``PatternRecognizer`` per entity of :data:`PATTERNS`."""
    import regex
    from presidio_analyzer import Pattern, PatternRecognizer

    return [
        PatternRecognizer(
            supported_entity=entity,
            name=f"sage_{entity.lower()}_recognizer",
            patterns=[Pattern(name=name, regex=regex, score=score) for name, regex, score in patterns],
            context=CONTEXT.get(entity, []),
            # Presidio's default adds IGNORECASE, which turns "[A-Z][a-z]+" into any word.
            global_regex_flags=regex.MULTILINE,
        )
        for entity, patterns in PATTERNS.items()
    ]
