"""Presidio recognizer for the names and places the system already knows (its patients, its clinicians).

A statistical NER misses a name it has never seen in a context it does not expect ("Follow up
with Okafor re: INR"). The raw tier lists every patient, so those names are found by lookup, not
by guessing. Matching is by token n-grams over a set (not one giant regex): a few thousand
names cost a hash lookup per word. A single name token is only masked when written capitalised
or in capitals ("Will", "WILL", not "will"), and not when it is an allow-listed clinical word
unless the full name is written ("Mass" alone is a finding; "John Mass" is a person).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from policies.deid_vocab import split_names

KNOWN_RECOGNIZER = "sage_known_identities"
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]|[A-Za-z]")
_MAX_NGRAM = 5


def _phrases(values: Iterable[str]) -> frozenset[str]:
    return frozenset(" ".join(_TOKEN.findall(v.lower())) for v in values if _TOKEN.search(v))


class KnownIdentityRecognizer(EntityRecognizer):
    """PERSON for known names, LOCATION for known places (cities, street lines)."""

    def __init__(self, names: Iterable[str] = (), places: Iterable[str] = (), allow: frozenset[str] = frozenset()) -> None:
        self.full_names, self.name_tokens = split_names(names)
        self.places = _phrases(places)
        self.allow = allow
        super().__init__(supported_entities=["PERSON", "LOCATION"], name=KNOWN_RECOGNIZER, supported_language="en")

    def load(self) -> None:  # noqa: D102 - nothing to load: the sets are built in __init__
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        """Spans of ``text`` that are a known name (0.95 full, 0.9 single token) or a known place (0.9)."""
        tokens = list(_TOKEN.finditer(text))
        lowered = [t.group().lower() for t in tokens]
        results: list[RecognizerResult] = []
        for i, tok in enumerate(tokens):
            for n in range(min(_MAX_NGRAM, len(tokens) - i), 0, -1):
                last = tokens[i + n - 1]
                gap = text[tok.start():last.end()]
                if "\n" in gap or len(gap) > 80:
                    continue
                phrase = " ".join(lowered[i:i + n])
                if "LOCATION" in entities and n > 0 and phrase in self.places and tok.group()[0].isupper():
                    results.append(self._result("LOCATION", tok.start(), last.end(), 0.9))
                    break
                if "PERSON" not in entities:
                    continue
                if n >= 2 and (phrase in self.full_names or " ".join(lowered[i + 1:i + n] + lowered[i:i + 1]) in self.full_names):
                    results.append(self._result("PERSON", tok.start(), last.end(), 0.95))
                    break
                if n == 1 and phrase in self.name_tokens and tok.group()[0].isupper() and phrase not in self.allow:
                    results.append(self._result("PERSON", tok.start(), tok.end(), 0.9))
        return results

    def _result(self, entity: str, start: int, end: int, score: float) -> RecognizerResult:
        return RecognizerResult(entity_type=entity, start=start, end=end, score=score,
                                recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: self.name,  # type: ignore[has-type]
                                                      RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id})
