"""Pattern recognizers for the identifiers clinical systems write, in the forms the lakehouse writes them.

spaCy tags "58-year-old", "10 mg daily" and "46202" as DATE and an MRN as a date, so the
redactor does not use spaCy's DATE_TIME at all: dates, ages over 89 (HIPAA Safe Harbor keeps
younger ages), record numbers, phones, fax, e-mail, URLs, street lines, cities and ZIP codes come
from these patterns. Two kinds of pattern:

- *format* patterns fire on the shape alone (``M12345678``, ``ACC123456789``, ``(317) 555-0143``);
- *labelled* patterns fire on the value after a label ("Encounter #:", "Member ID", "Fax") and
  redact only the value (look-behinds keep the label readable). A label is how a human reader
  knows that "4820193" is an encounter number and not a lab value; so does the redactor.

Scores below :data:`policies.deid.SCORE_THRESHOLD` (0.5) are only kept when a context word is
near (Presidio adds 0.35). Presidio is imported only by :func:`build_recognizers` (it is heavy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from presidio_analyzer import PatternRecognizer

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?"
    r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_MONTH_ANY = rf"(?i:{_MONTH})"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_YEAR = r"(?:19|20)\d{2}"
_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|"
    "OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI|AS|MP|MH|PW|FM|AA|AE|AP"
)
_CAP = r"[A-Z][a-z]+(?:['-][A-Z]?[a-z]+)?"
_NAME = rf"(?:{_CAP}|[A-Z]\.)"
# A street suffix list would never be complete (Faker alone has ~200): a house number followed by
# one to four capitalised words, optionally a unit, is what an address line looks like in a note.
_UNIT = r"(?:,? (?:Apt\.?|Suite|Unit|Ste\.?|#) ?[\w-]+)?"
# A number after a document-structure word starts a reference, not a street ("section 7 Drug Interactions").
_NOT_A_REFERENCE = "".join(rf"(?<!\b(?i:{w}) )" for w in ("section", "chapter", "table", "figure", "part", "page", "appendix", "step", "item", "class", "grade", "stage", "type", "level", "version"))
_STREET = rf"{_NOT_A_REFERENCE}\b\d{{1,6}}(?: (?!(?:Apt|Suite|Unit|Ste|mg|mcg|mL|mm|cm|kg|units?)\b)(?:[NSEW]\.?|{_CAP}|\d+(?:st|nd|rd|th))){{2,4}}\b{_UNIT}"
# US city names as Faker and real gazetteers build them: a directional/"New"/"Port"/"Lake" prefix,
# or a place-name suffix ("-ville", "-mouth", "-borough"...).
_CITY_SUFFIX = (
    r"(?:ville|town|ton|burgh|burg|borough|bury|mouth|haven|chester|fort|furt|land|berg|port|stad|view|"
    r"side|shire|field|ford|field|wood|dale|mont|chester|ham|stead|ville|worth)"
)
_CITY_PREFIX = r"(?:North|South|East|West|New|Port|Lake|Fort|Mount|Saint|St\.)"
_CITY = rf"(?:{_CAP}(?: {_CAP}){{0,2}})"
_LABEL_SEP = r"\s*(?:[:#]|no\.?|number|num\.?)?\s*[:#]?\s*"


def _labelled(labels: str, value: str) -> str:
    """``value`` right after one of ``labels`` (case-insensitive) and an optional ':', '#' or 'No.'."""
    return rf"(?<=\b(?i:{labels}){_LABEL_SEP}){value}"


# entity -> [(name, regex, score)]
PATTERNS: dict[str, list[tuple[str, str, float]]] = {
    "MRN": [
        ("sage_mrn", r"\bM\d{8}\b", 0.9),
        ("labelled_mrn", _labelled(r"MRN|medical record(?: number| no\.?)?|med rec|record|chart", r"[A-Z]{0,3}-?\d{4,12}\b"), 0.9),
    ],
    "ACCESSION": [
        ("sage_accession", r"\bACC\d{6,12}\b", 0.9),
        ("labelled_accession", _labelled(r"accession|acc|study|exam id", r"[A-Z]{0,4}-?\d{5,12}\b"), 0.9),
    ],
    "ENCOUNTER": [
        ("encounter_code", r"\b(?:ENC|VIS|CSN|FIN|ADM|HAR)[- ]?\d{6,12}\b", 0.85),
        ("labelled_encounter", _labelled(r"encounter|enc|visit|csn|fin|admission|account|acct|har|episode",
                                         r"(?:[A-Z]{0,4}-?\d{5,12}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b"), 0.9),
    ],
    "INSURANCE": [
        ("labelled_insurance", _labelled(
            r"member(?: id)?|subscriber(?: id)?|policy(?: id)?|insurance(?: id)?|insurance member id|group(?: id)?|"
            r"plan(?: id)?|payer id|medicaid(?: id)?|medicare(?: id| mbi)?|mbi|beneficiary(?: id)?|coverage id",
            r"(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{5,19}\b"), 0.9),
        # Medicare Beneficiary Identifier: 11 characters, dashes optional (1EG4-TE5-MK73).
        ("medicare_mbi", r"\b[1-9][AC-HJKMNP-RT-Yac-hjkmnp-rt-y][AC-HJKMNP-RT-Y0-9]\d-?[AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d-?"
                         r"[AC-HJKMNP-RT-Y]{2}\d{2}\b", 0.8),
        ("payer_id", r"\b[A-Z]{3}\d{9}\b", 0.6),
    ],
    "ID": [
        # Any other record-like code: letters then 6+ digits, or 7+ digits alone (no decimal point).
        ("alnum_code", r"\b[A-Z]{1,4}-?\d{6,14}\b", 0.55),
        ("long_number", r"(?<![\d.,/])\d{7,14}(?![\d.,/]|\s?(?:mg|mcg|mL|g|units?)\b)", 0.55),
        ("uuid", r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", 0.3),
        ("ssn_like", r"\b\d{3}-\d{2}-\d{4}\b", 0.7),
    ],
    "DATE": [
        ("numeric_date", rf"\b(?:0?[1-9]|1[0-2])[/.-]{_DAY}[/.-](?:\d{{4}}|\d{{2}})\b", 0.85),
        ("iso_date", rf"\b{_YEAR}[-/.](?:0?[1-9]|1[0-2])[-/.]{_DAY}\b", 0.85),
        ("month_day_year", rf"\b(?:{_MONTH}|{_MONTH.upper()})\.? {_DAY}(?:st|nd|rd|th)?(?:,? {_YEAR})?\b", 0.8),
        ("day_month_year", rf"\b{_DAY}(?:st|nd|rd|th)? (?:of )?{_MONTH_ANY}\.?,? {_YEAR}\b", 0.85),
        ("day_mon_year", rf"\b{_DAY}[- ]?{_MONTH_ANY}[- ]?(?:{_YEAR}|\d{{2}})\b", 0.8),
        ("month_year", rf"\b{_MONTH}\.?,? {_YEAR}\b", 0.7),
        ("month_slash_year", rf"(?<![\d/])(?:0?[1-9]|1[0-2])/{_YEAR}\b", 0.7),
        ("labelled_date", _labelled(r"DOB|date of birth|born|dod|date of death|admitted|discharged|admission date|"
                                    r"discharge date|date of service|dos|seen on|visit date", rf"(?:{_YEAR}|\d{{1,2}}/\d{{1,2}})"), 0.6),
    ],
    "PERSON": [
        ("titled_name", rf"(?<=\b(?:Dr|Drs|Doctor|Mr|Mrs|Ms|Miss|Mx|Nurse|Prof)\.?\s){_NAME}(?:[ -]{_NAME}){{0,2}}\b", 0.85),
        ("labelled_name", rf"(?<=\b(?i:patient|patient name|name|pt|attending|ordering(?: physician| provider)?|"
                          rf"referring(?: physician| provider)?|pcp|physician|provider|nurse|rn|np|resident|to|from|cc|"
                          rf"contact|emergency contact|guardian|caregiver|spouse)\s*:\s*)(?!(?:Dr|Mr|Mrs|Ms|Miss|Prof)\b){_NAME}(?:,? {_NAME}){{0,2}}\b", 0.85),
        ("relation_name", rf"(?<=\b(?i:signed by|daughter|son|wife|husband|mother|father|sister|brother|spouse|caregiver|"
                          rf"guardian|niece|nephew|friend|neighbou?r|care of|c/o),?\s+)(?!(?:Dr|Mr|Mrs|Ms|Miss|Prof)\b){_NAME}(?: {_NAME}){{0,2}}\b", 0.7),
        ("handoff_name", rf"(?<=\b(?:RN|LPN|MD|NP|(?i:handoff|handed off|hand off|report given|signed out|transferred care))\s+to\s+)"
                         rf"(?!(?:Dr|Mr|Mrs|Ms|Miss|Prof)\b){_NAME}(?: {_NAME}){{0,2}}\b", 0.7),
        ("credentialed_name", rf"\b{_NAME}(?: {_NAME}){{1,2}}(?=,? (?:MD|DO|RN|NP|PA-C|PA|BSN|MSN|APRN|CNP|PharmD|PhD|LPN|MBBS)\b)", 0.85),
        ("salutation", rf"(?<=\b(?:Dear|Hi|Hello|Thanks|Thank you|Regards|Sincerely|Best|Cheers),?\s)(?!(?:Dr|Mr|Mrs|Ms|Miss|Prof)\b){_NAME}(?: {_NAME}){{0,2}}\b", 0.75),
        ("surname_first", rf"(?<=^|\n|:\s)[A-Z][A-Za-z'-]+, {_CAP}(?: [A-Z]\.?)?(?=\s*(?:\n|\(|$|,|;|\.|\s(?:MRN|DOB)))", 0.6),
        ("self_introduction", rf"(?<=\b(?i:this is|my name is|i am|i'm)\s){_NAME}(?: {_NAME}){{0,2}}\b", 0.6),
        ("caps_surname_first", r"\b[A-Z]{2,}(?:['-][A-Z]+)?, [A-Z]{2,}(?:['-][A-Z]+)?(?: [A-Z]\.?)?\b", 0.6),
        ("caps_name", r"(?<=\b(?i:patient|name|pt)\s*:\s*)[A-Z][A-Z'-]+,? [A-Z][A-Z'-]+\b", 0.85),
    ],
    "PHONE_NUMBER": [
        ("us_phone", r"(?:\+?1[ .-]?)?(?:\(\d{3}\) ?|\b\d{3}[-. ])\d{3}[-. ]\d{4}\b(?: ?(?:x|ext\.?) ?\d{1,5})?", 0.75),
    ],
    "FAX": [
        ("labelled_fax", _labelled(r"fax|facsimile|f", r"(?:\+?1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-. ]\d{4}\b"), 0.95),
    ],
    "EMAIL_ADDRESS": [
        ("email", r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b", 0.95),
    ],
    "URL": [
        ("url", r"\b(?:https?://|www\.)[^\s<>\"')\]]+[^\s<>\"')\].,;:]", 0.9),
        ("bare_domain", r"\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|edu|gov|io|us|health|info)(?:/[^\s<>\"')\]]*[^\s<>\"')\].,;:])?\b", 0.8),
    ],
    "IP_ADDRESS": [
        ("ipv4", r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b", 0.6),
    ],
    "AGE_OVER_89": [
        ("age_years_old", r"(?i)\b(?:9\d|1[0-1]\d)[- ](?:year|yr)s?[- ]old\b", 0.9),
        ("age_years", r"(?i)\b(?:9\d|1[0-1]\d) (?:years?|yrs?)(?= of age| old\b|,| and\b)", 0.85),
        ("age_labelled", r"(?i)(?<=\b(?:age[d:]?|aged|age of)\s+)(?:9\d|1[0-1]\d)\b", 0.85),
        ("age_yo", r"(?i)\b(?:9\d|1[0-1]\d)\s?(?:yo|y/o|y\.o\.|yrs?|y)\b", 0.8),
        ("age_sex", r"\b(?:9\d|1[0-1]\d)(?:M|F|yoM|yoF|yom|yof)\b", 0.75),
        ("age_words", r"(?i)\b(?:ninety|one hundred)(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?[- ]years?[- ]old\b", 0.85),
    ],
    "STREET_ADDRESS": [
        ("street_line", _STREET, 0.6),
        ("po_box", r"\b(?i:P\.? ?O\.? Box) \d{1,6}\b", 0.85),
    ],
    "CITY": [
        ("city_state", rf"\b{_CITY}(?=,? (?:{_STATES})\b(?: \d{{5}}|,|\.|\s*$|\n))", 0.75),
        ("labelled_city", _labelled(r"city|town|lives in|resides in|moved to|from|home in|living in", _CITY + r"\b"), 0.45),
        ("suffix_city", rf"\b(?:{_CITY_PREFIX} )?{_CAP}{_CITY_SUFFIX}\b", 0.5),
        ("prefix_city", rf"\b{_CITY_PREFIX} {_CAP}(?:{_CITY_SUFFIX})?\b", 0.55),
    ],
    "ZIP": [
        ("state_zip", rf"(?<=\b(?:{_STATES}),?\s{{1,2}})\d{{5}}(?:-\d{{4}})?\b", 0.9),
        ("labelled_zip", _labelled(r"zip|zip code|zipcode|postal code|postcode", r"\d{5}(?:-\d{4})?\b"), 0.9),
        ("zip_plus4", r"\b\d{5}-\d{4}\b", 0.6),
    ],
}

# Presidio raises a pattern's score by 0.35 when one of these words is within five words before it.
CONTEXT: dict[str, list[str]] = {
    "MRN": ["mrn", "record", "medical", "chart"],
    "ACCESSION": ["accession", "acc", "study"],
    "ENCOUNTER": ["encounter", "visit", "csn", "fin", "admission", "account"],
    "INSURANCE": ["insurance", "member", "policy", "subscriber", "medicare", "medicaid", "payer", "plan", "group"],
    "ID": ["id", "number", "identifier", "encounter", "patient", "ssn", "social"],
    "PHONE_NUMBER": ["phone", "call", "tel", "telephone", "cell", "pager", "mobile", "contact", "reached"],
    "STREET_ADDRESS": ["address", "lives", "resides", "street", "home"],
    "CITY": ["city", "lives", "resides", "town", "from", "moved", "address", "in"],
    "ZIP": ["zip", "postal"],
    "IP_ADDRESS": ["ip", "address", "host"],
}


def build_recognizers() -> list[PatternRecognizer]:
    """One Presidio ``PatternRecognizer`` per entity of :data:`PATTERNS`."""
    import regex
    from presidio_analyzer import Pattern, PatternRecognizer

    return [
        PatternRecognizer(
            supported_entity=entity,
            name=f"sage_{entity.lower()}_recognizer",
            patterns=[Pattern(name=name, regex=rx, score=score) for name, rx, score in patterns],
            context=CONTEXT.get(entity, []),
            # Presidio's default adds IGNORECASE, which turns "[A-Z][a-z]+" into any word.
            global_regex_flags=regex.MULTILINE,
        )
        for entity, patterns in PATTERNS.items()
    ]
