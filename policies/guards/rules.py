"""Rule machinery shared by the injection and harm guards: weighted regexes run on every view.

A rule fires at most once per text (on the first view it matches, ``plain`` first); the score
is ``1 - prod(1 - weight)`` over the fired rules, so two medium signals add up and one strong
signal suffices. Weights are set on the dev split of ``tests/security/data`` only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from policies.guards.normalize import Views
from policies.guards.verdict import RuleHit, Source

VIEW_ORDER = ("plain", "deleet", "despaced", "despaced-deleet", "base64", "squashed")
OBFUSCATED_VIEWS = frozenset({"deleet", "despaced", "despaced-deleet", "base64", "squashed"})


# Sentence ends, but not after a title ("Dr. Okafor"); a semicolon joins clauses of one thought.
_SENTENCE = re.compile(r"(?<!\bdr\.)(?<!\bmr\.)(?<!\bms\.)(?<!\bst\.)(?<!\bvs\.)(?<!mrs\.)(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Rule:
    """A weighted pattern; ``sources`` limits it to some text sources, ``views`` to some views.

    A rule with ``also`` patterns is a *concept* rule: it fires when ``pattern`` and every
    ``also`` pattern occur in one sentence, in any order, and no ``unless`` pattern does there.
    Concepts are word families (every verb of circumventing, every noun for the model's rules),
    so a new phrasing of the same intent matches without a rule for its word order.
    """

    id: str
    category: str
    weight: float
    pattern: re.Pattern[str]
    sources: frozenset[str] = frozenset({"user", "retrieved", "tool"})
    views: frozenset[str] = frozenset(VIEW_ORDER) - {"squashed"}
    also: tuple[re.Pattern[str], ...] = ()
    unless: re.Pattern[str] | None = None

    def search(self, text: str) -> bool:
        """Whether the rule fires on ``text`` (one view of it)."""
        if not self.also:
            return self.pattern.search(text) is not None
        if not (self.pattern.search(text) and all(p.search(text) for p in self.also)):
            return False  # cheap whole-text test first
        for sentence in _SENTENCE.split(text):
            if self.pattern.search(sentence) and all(p.search(sentence) for p in self.also):
                if self.unless is None or not self.unless.search(sentence):
                    return True
        return False


def rule(id: str, category: str, weight: float, pattern: str, sources: Iterable[str] | None = None, views: Iterable[str] | None = None) -> Rule:
    """Build a :class:`Rule` (patterns are matched on case-folded, normalised text)."""
    return Rule(
        id=id,
        category=category,
        weight=weight,
        pattern=re.compile(pattern, re.M),
        sources=frozenset(sources) if sources else frozenset({"user", "retrieved", "tool"}),
        views=frozenset(views) if views else frozenset(VIEW_ORDER) - {"squashed"},
    )


def concept(id: str, category: str, weight: float, *concepts: str, unless: str | None = None, sources: Iterable[str] | None = None) -> Rule:
    """Build a concept :class:`Rule`: every pattern of ``concepts`` in one sentence, none of ``unless``."""
    first, *rest = concepts
    return Rule(
        id=id,
        category=category,
        weight=weight,
        pattern=re.compile(first, re.M),
        sources=frozenset(sources) if sources else frozenset({"user", "retrieved", "tool"}),
        views=frozenset({"plain", "deleet", "despaced", "despaced-deleet", "base64"}),
        also=tuple(re.compile(p, re.M) for p in rest),
        unless=re.compile(unless, re.M) if unless else None,
    )


def run_rules(rules: Sequence[Rule], text_views: Views, source: Source | None) -> list[RuleHit]:
    """Every rule that fires for ``source`` on some view of the text, with the first view it matched."""
    hits: list[RuleHit] = []
    for r in rules:
        if source is not None and source not in r.sources:
            continue
        if r.views == {"squashed"} and any(h.category == r.category for h in hits):
            continue  # the letters-only view only adds what the readable views missed
        for view in VIEW_ORDER:
            text = text_views.views.get(view)
            if text is not None and view in r.views and r.search(text):
                hits.append(RuleHit(rule=r.id, category=r.category, weight=r.weight, view=view))
                break
    return hits


def combine(weights: Iterable[float]) -> float:
    """Noisy-or of the fired weights, in [0, 1]."""
    remaining = 1.0
    for w in weights:
        remaining *= 1.0 - max(0.0, min(1.0, w))
    return round(1.0 - remaining, 4)


def reason(guard: str, hits: Sequence[RuleHit], flagged: bool) -> str:
    """A reason naming the categories and rules that fired (never the text)."""
    if not hits:
        return f"no {guard} signal"
    cats = ", ".join(dict.fromkeys(h.category for h in hits))
    obf = " (obfuscated: " + ", ".join(sorted({h.view for h in hits if h.view in OBFUSCATED_VIEWS})) + ")" if any(h.view in OBFUSCATED_VIEWS for h in hits) else ""
    verb = "flagged" if flagged else "below threshold"
    return f"{guard} {verb}: {cats}{obf} [rules: {', '.join(h.rule for h in hits)}]"
