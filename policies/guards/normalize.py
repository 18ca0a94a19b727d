"""Normalisation before matching: attackers spell instructions so that plain regexes miss them.

Each text is turned into a few *views*; the rules run on every view, and a hit that appears only
in a transformed view is itself evidence of obfuscation:

- ``plain``: NFKC (full-width letters, ligatures), zero-width and other format characters
  removed, homoglyphs from Cyrillic/Greek mapped to Latin, case folded, whitespace collapsed;
- ``deleet``: ``plain`` with leetspeak digits/symbols read as letters (``1gn0r3`` -> ``ignore``);
  kept apart from ``plain`` because digits carry meaning in clinical text (``5 mg``);
- ``despaced``: runs of single characters separated by spaces, dots, dashes or underscores
  joined (``i g n o r e`` -> ``ignore``);
- ``squashed``: letters only (of the de-leeted text), for a few long key phrases that survive any
  spacing or punctuation between letters (``ig-nore all prev.ious``);
- ``base64``: printable text decoded from base64 blobs of 16+ characters.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass

# Cyrillic and Greek letters that render like Latin ones (lower case after casefold).
HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
        "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w",
        "һ": "h", "ӏ": "l", "ɡ": "g", "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v",
        "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ѵ": "v", "ɑ": "a", "ı": "i",
    }
)
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l", "€": "e"})
# Single characters joined by one separator; two or more spaces end a word (``i g n o r e  a l l``).
_SPACED = re.compile(r"(?<![\w])(?:\w[.\-_*]?[ .\-_*](?! ))*(?:\w[ .\-_*]){2,}\w(?![\w])")
_B64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class Views:
    """The normalised views of one text and the obfuscation signals seen while building them."""

    views: dict[str, str]
    format_chars: int
    homoglyphs: int


def _strip_format(text: str) -> tuple[str, int]:
    """Remove format characters (zero-width space/joiners, BOM, soft hyphen, bidi controls)."""
    kept = [c for c in text if unicodedata.category(c) != "Cf"]
    return "".join(kept), len(text) - len(kept)


def _despace(text: str) -> str:
    return _SPACED.sub(lambda m: re.sub(r"[ .\-_*]", "", m.group(0)), text)


def _decode_b64(text: str) -> str:
    """Printable text hidden in base64 blobs (blobs that decode to binary are ignored)."""
    out = []
    for blob in _B64.findall(text):
        try:
            raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
            decoded = raw.decode("utf-8")
        except (binascii.Error, ValueError):
            continue
        if decoded and sum(c.isprintable() or c.isspace() for c in decoded) / len(decoded) > 0.95 and re.search(r"[a-zA-Z]{3,}", decoded):
            out.append(decoded)
    return " \n".join(out)


def _collapse(text: str) -> str:
    return "\n".join(_WS.sub(" ", line).strip() for line in text.splitlines())


def basic(text: str) -> str:
    """NFKC, format characters removed, homoglyphs mapped, case folded, whitespace collapsed."""
    stripped, _ = _strip_format(unicodedata.normalize("NFKC", text))
    return _WS.sub(" ", stripped.casefold().translate(HOMOGLYPHS)).strip()


def views(text: str) -> Views:
    """All views of ``text`` (see the module docstring); duplicates of ``plain`` are dropped."""
    nfkc = unicodedata.normalize("NFKC", text)
    stripped, n_format = _strip_format(nfkc)
    folded = stripped.casefold()
    mapped = folded.translate(HOMOGLYPHS)
    n_homoglyphs = sum(a != b for a, b in zip(folded, mapped, strict=True))
    # Newlines are kept (role markers are line-anchored); other whitespace runs collapse.
    plain = _collapse(mapped)
    result = {"plain": plain}
    deleet = plain.translate(LEET)
    if deleet != plain:
        result["deleet"] = deleet
    despaced = _collapse(_despace(mapped))
    if despaced != plain:
        result["despaced"] = despaced
        result["despaced-deleet"] = _collapse(_despace(mapped.translate(LEET)))
    result["squashed"] = re.sub(r"[^a-z]", "", deleet)
    decoded = _decode_b64(stripped)
    if decoded:
        result["base64"] = basic(decoded)
    return Views(result, n_format, n_homoglyphs)
