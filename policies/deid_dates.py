"""Date shifting for de-identified text: the same per-patient offset for every date, in the same format.

Shifting (instead of masking) keeps intervals ("admitted 3/2, discharged 3/9", "CT 6 months
after the X-ray") that a researcher needs, while the real dates are gone. The offset is derived
from a secret and the patient key with HMAC-SHA256, so it is the same for all of one patient's
documents and cannot be recovered without the secret. A date whose format is not recognised
is masked as ``[DATE]`` (never left as it was).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date, datetime, timedelta

# (strptime format, output template). Templates use {d} (day, no padding), {dd}, {m}, {mm},
# {yyyy}, {yy}, {Month}, {Mon}, {MONTH}, {MON} so that "March 3, 2012" shifts to "April 9, 2012".
_FORMATS: list[tuple[str, str]] = [
    ("%m/%d/%Y", "{mm}/{dd}/{yyyy}"), ("%m/%d/%y", "{mm}/{dd}/{yy}"), ("%m-%d-%Y", "{mm}-{dd}-{yyyy}"),
    ("%m-%d-%y", "{mm}-{dd}-{yy}"), ("%m.%d.%Y", "{mm}.{dd}.{yyyy}"), ("%Y-%m-%d", "{yyyy}-{mm}-{dd}"),
    ("%Y/%m/%d", "{yyyy}/{mm}/{dd}"), ("%B %d, %Y", "{Month} {d}, {yyyy}"), ("%B %d %Y", "{Month} {d} {yyyy}"),
    ("%b %d, %Y", "{Mon} {d}, {yyyy}"), ("%b. %d, %Y", "{Mon}. {d}, {yyyy}"), ("%b %d %Y", "{Mon} {d} {yyyy}"),
    ("%d %B %Y", "{d} {Month} {yyyy}"), ("%d %b %Y", "{d} {Mon} {yyyy}"), ("%d-%b-%Y", "{dd}-{Mon}-{yyyy}"),
    ("%d-%b-%y", "{dd}-{Mon}-{yy}"), ("%d%b%Y", "{dd}{Mon}{yyyy}"), ("%B %Y", "{Month} {yyyy}"),
    ("%b %Y", "{Mon} {yyyy}"), ("%m/%Y", "{mm}/{yyyy}"),
]
_ORDINAL = re.compile(r"(?<=\d)(?:st|nd|rd|th)\b")


def patient_offset(secret: bytes, patient_key: str, max_days: int) -> int:
    """A non-zero day offset in ``[-max_days, max_days]``, fixed for (secret, patient)."""
    digest = hmac.new(secret, f"date-shift|{patient_key}".encode(), hashlib.sha256).digest()
    offset = int.from_bytes(digest[:8], "big") % (2 * max_days + 1) - max_days
    return offset or max_days


def _parse(text: str) -> tuple[date, str] | None:
    cleaned = _ORDINAL.sub("", text.strip()).replace("Sept", "Sep")
    for fmt, template in _FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).date(), template
        except ValueError:
            continue
    return None


def _render(day: date, template: str, upper: bool) -> str:
    month, mon = day.strftime("%B"), day.strftime("%b")
    text = template.format(d=day.day, dd=f"{day.day:02d}", m=day.month, mm=f"{day.month:02d}", yyyy=day.year,
                           yy=f"{day.year % 100:02d}", Month=month, Mon=mon)
    return text.upper() if upper else text


def shift_date_text(text: str, offset_days: int) -> str:
    """``text`` (one date) moved by ``offset_days`` in its own format; ``[DATE]`` when unparseable."""
    parsed = _parse(text)
    if parsed is None:
        return "[DATE]"
    day, template = parsed
    try:
        moved = day + timedelta(days=offset_days)
    except OverflowError:
        return "[DATE]"
    return _render(moved, template, upper=text.isupper())
