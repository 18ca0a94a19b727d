"""Find finding mentions in report text and decide each one's state (present/absent/uncertain).

NegEx-style: a mention is judged by cues inside its own clause. Sentences are split on
terminal punctuation and newlines; clauses on ``;``, ``:``, "but", "however", "which", ...,
so "No pneumothorax, but a small effusion" negates only the pneumothorax, while the comma
list "No pneumothorax, effusion or consolidation" stays in one negated clause.

Precedence per mention (as in the CheXpert labeler): uncertainty that contains a negation
word ("cannot exclude") > negation > other uncertainty > present.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from lakehouse.findings import FindingState
from lakehouse.labeler import vocabulary as voc


def _alternation(patterns: list[str] | tuple[str, ...]) -> str:
    # Word boundaries only where the phrase starts/ends with a word character ("?" has none).
    parts = []
    for p in sorted(patterns, key=len, reverse=True):
        start = r"\b" if re.match(r"[\w(\\]", p) and not p.startswith(r"\?") else ""
        end = r"\b" if re.search(r"[\w)?]$", p) and not p.endswith(r"\?") else ""
        parts.append(f"{start}(?:{p}){end}")
    return "|".join(parts)


def _compile(patterns: list[str] | tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(_alternation(patterns))


_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_CLAUSE_SPLIT = re.compile(voc.CLAUSE_BREAK)
_MENTION = {key: _compile(phrases) for key, phrases in voc.MENTIONS.items()}
_UNMENTION = {key: _compile(phrases) for key, phrases in voc.UNMENTIONS.items()}
_ANATOMY = {key: re.compile(rf"\b(?:{p})\b") for key, p in voc.ANATOMY.items()}
_ANATOMY_STATE = re.compile(
    rf"\b(?:(?P<borderline>{voc.ANATOMY_BORDERLINE})|(?P<normal>{voc.ANATOMY_NORMAL})|(?P<enlarged>{voc.ANATOMY_ENLARGED}))\b"
)
_PRE_NEG = _compile(voc.PRE_NEGATION)
_POST_NEG = _compile(voc.POST_NEGATION)
_NEG_EXCEPTION = _compile(voc.NEGATION_EXCEPTIONS)
_NEG_UNCERTAIN = _compile(voc.PRE_NEGATION_UNCERTAINTY)
_PRE_UNC = _compile(voc.PRE_UNCERTAINTY)
_POST_UNC = _compile([*voc.POST_UNCERTAINTY, "unlikely"])
_ANATOMY_AFTER, _ANATOMY_BEFORE = 80, 30  # characters searched for "normal"/"enlarged" around anatomy


@dataclass(frozen=True)
class Mention:
    """One finding mention and the state its clause gives it."""

    finding: str
    state: FindingState
    sentence: int
    text: str


def _spans(text: str, separator: re.Pattern[str], offset: int = 0) -> list[tuple[int, int]]:
    # (start, end) of the non-empty pieces between separators, as offsets into the full text.
    spans, pos = [], 0
    for sep in separator.finditer(text):
        if text[pos : sep.start()].strip():
            spans.append((offset + pos, offset + sep.start()))
        pos = sep.end()
    if text[pos:].strip():
        spans.append((offset + pos, offset + len(text)))
    return spans


def split_sentences(text: str) -> list[str]:
    """Sentences of a report section (terminal punctuation or line breaks end a sentence)."""
    return [text[s:e].strip() for s, e in _spans(text, _SENTENCE_SPLIT)]


def classify(clause: str, start: int, end: int) -> FindingState:
    """State of the mention ``clause[start:end]`` from the cues around it in its clause."""
    before, after = clause[:start], clause[end:]
    near_after = after.split(",", 1)[0]
    if _NEG_UNCERTAIN.search(before) or _NEG_UNCERTAIN.search(near_after):
        return "uncertain"
    exceptions = [(m.start(), m.end()) for m in _NEG_EXCEPTION.finditer(clause) if m.start() < start]
    for cue in _PRE_NEG.finditer(before):
        if not any(s <= cue.start() < e for s, e in exceptions):
            return "absent"
    if _POST_NEG.search(near_after):
        return "absent"
    if _PRE_UNC.search(before) or _POST_UNC.search(near_after):
        return "uncertain"
    return "present"


def _anatomy_state(clause: str, start: int, end: int) -> FindingState | None:
    state = _ANATOMY_STATE.search(clause, end, end + _ANATOMY_AFTER)
    if state is None:
        window = clause[max(0, start - _ANATOMY_BEFORE) : start]
        found = list(_ANATOMY_STATE.finditer(window))
        state = found[-1] if found else None
    if state is None:
        return None
    if state.lastgroup == "borderline":
        return "uncertain"
    if state.lastgroup == "normal":
        return "absent"
    return classify(clause, start, end)


def _blank(text: str, pattern: re.Pattern[str]) -> str:
    return pattern.sub(lambda m: " " * len(m.group()), text)


def find_mentions(text: str) -> tuple[list[str], list[Mention]]:
    """The sentences of ``text`` and every finding mention in it, each judged within its clause.

    Each finding's pattern runs once over the whole lower-cased text (not per clause: that is
    what makes the labeler fast); a match is then judged by the cues of the clause it falls in.
    """
    lowered = text.lower()
    sentence_spans = _spans(lowered, _SENTENCE_SPLIT)
    clause_starts: list[int] = []
    clauses: list[tuple[int, int, int]] = []  # (start, end, sentence index)
    for index, (s_start, s_end) in enumerate(sentence_spans):
        for c_start, c_end in _spans(lowered[s_start:s_end], _CLAUSE_SPLIT, s_start):
            clause_starts.append(c_start)
            clauses.append((c_start, c_end, index))
    found: list[Mention] = []

    def judge(key: str, m: re.Match[str], anatomy: bool) -> None:
        at = bisect.bisect_right(clause_starts, m.start()) - 1
        if at < 0 or m.end() > clauses[at][1]:
            return  # in a separator or across a clause boundary
        c_start, c_end, sentence = clauses[at]
        clause = lowered[c_start:c_end]
        start, end = m.start() - c_start, m.end() - c_start
        state = _anatomy_state(clause, start, end) if anatomy else classify(clause, start, end)
        if state is not None:
            found.append(Mention(key, state, sentence, m.group()))

    for key, pattern in _MENTION.items():
        if not any(t in lowered for t in voc.TRIGGERS[key]):
            continue
        unmention = _UNMENTION.get(key)
        searched = _blank(lowered, unmention) if unmention is not None else lowered
        for m in pattern.finditer(searched):
            judge(key, m, anatomy=False)
    for key, pattern in _ANATOMY.items():
        if not any(t in lowered for t in voc.TRIGGERS[key]):
            continue
        for m in pattern.finditer(lowered):
            judge(key, m, anatomy=True)
    found.sort(key=lambda m: m.sentence)
    source = text if len(text) == len(lowered) else lowered  # lower() may change length (rare Unicode)
    return [source[s:e].strip() for s, e in sentence_spans], found
