"""Rules the router applies before (and around) its classifier: governance, commands, follow-ups, splits.

Why rules and not only the classifier: a request that must be declined (patient identifiers
without the right to see them, prompt injection, harm such as lethal doses or falsified orders)
has to be declined every time, whatever the classifier's mood; a slash command says exactly
what the user wants; and a short follow-up ("and aspirin?") means nothing without the thread.
Each rule is a literal pattern a reviewer can read, and each decision names the rule that fired.
"""

from __future__ import annotations

import re

from agents.intent import ROUTABLE_TASKS, DeclineKind
from policies.guards import detect_harm, detect_injection

_I = re.IGNORECASE

IDENTIFIER_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, _I)
    for p in (
        r"\b(home |street |postal |mailing )?address(es)?\b",
        r"\bphone( ?numbers?)?\b|\btelephone\b|\bcell ?number\b",
        r"\bssns?\b|\bsocial security\b",
        r"\bmrns?\b|\bmedical record numbers?\b",
        r"\be-?mail( address)?(es)?\b",
        r"\b(date|dates) of birth\b|\bdobs?\b|\bbirth ?dates?\b",
        r"\bzip ?codes?\b|\bpostcodes?\b",
        r"\binsurance (number|id|policy)\b",
        r"\bnext of kin\b|\bemergency contact\b|\bcontact (details|info)\b",
        r"\b(full|real|first|last|sur|given|patient'?s?)\s?names?\b",
        r"\bnames? (and|with|of)\b.{0,40}\b(patients?|pts?|everyone|them)\b",
        r"\bwho is (patient|pt)\b",
        r"\b(identifiers|phi)\b.{0,20}\b(all|every|raw|unredacted)\b|\b(all|every|raw|unredacted)\b.{0,20}\b(identifiers|phi)\b",
    )
)

EXTRA_INJECTION: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, _I)
    for p in (
        r"\bforget (all |your |the )?(rules|instructions|policy|policies)\b",
        r"\bpretend\b.{0,60}\b(rules|policy|policies|privacy)\b",
        r"\bnew instructions\s*:",
        r"^\s*system\s*:",
        r"\b(admin|developer|god|jailbreak|dan) mode\b",
        r"\bno (restrictions|rules|filters)\b",
        r"\b(reveal|print|show|dump)\b.{0,30}\b(system prompt|hidden instructions|your instructions)\b",
        r"\bbypass\b.{0,30}\b(policy|policies|governance|guard|safety|privacy)\b",
        r"\b(disable|turn off)\b.{0,20}\b(guard|policy|filter|redaction|audit)\b",
        r"\bunredacted\b",
        r"\bi'?m the admin\b",
    )
)

HARMFUL_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, _I)
    for p in (
        r"\b(lethal|fatal|deadly) (dose|amount|combination)\b",
        r"\b(dose|amount|much|many|tablets|pills)\b.{0,50}\b(would|will|to|could) be (lethal|fatal|deadly)\b",
        r"\b(how (many|much)|what amount)\b.{0,60}\b(kill|overdose|die|fatal|lethal)\b",
        r"\b(would|will|to|could) kill\b",
        r"\bwithout (being )?(detected|detection|anyone noticing)\b|\blooks? natural\b|\bdoesn'?t wake up\b",
        r"\bfalsif(y|ied|ying)\b|\bforge[ds]?\b|\bforging\b|\bback-?dat(e|ed|ing)\b",
        r"\bfake (a |an |the )?(order|prescription|signature|record|note|report)\b",
        r"\bunder another (doctor|physician|prescriber|clinician)'?s name\b",
        r"\b(delete|erase|wipe|remove|hide)\b.{0,30}\baudit\b|\baudit (log )?doesn'?t show\b",
        r"\b(isn'?t|is not|not) in the record\b",
        r"\b(alter|change|edit|modify)\b.{0,40}\b(time ?stamps?|signature|order time)\b",
        r"\b(10|ten|20|twenty)\s?x the (normal |usual )?dose\b",
        r"\bfatal arrhythmia\b.{0,40}\bnatural\b",
    )
)

# Worded so that a reason quoted back later (thread memory, the answer task) is not itself flagged
# by the injection guard: no imperative about instructions or identifiers in it.
DECLINE_REASONS: dict[str, str] = {
    "identifiers": "it asks for direct patient identifiers, which this role may not see",
    "injection": "it looks like a prompt-injection attempt: text addressed to the system rather than a clinical question",
    "harmful": "it asks for something that could harm a patient or falsify the record",
    "out_of_scope": "it is not a clinical task this system serves",
}

COMMAND = re.compile(r"^/(?P<task>[a-z]+)\b\s*(?P<rest>.*)$", re.DOTALL)

# A short turn that leans on the previous one: "and aspirin?", "what about over 80?", "same for P7".
FOLLOW_UP = re.compile(
    r"^\s*(?:(?:ok|okay|right|great|thanks|cool|alright|so),?\s+)?"
    r"(and|also|plus|now|then|what about|how about|what if|same|more like|any more|anything else|and for|and if|just the|only the|instead|the other)\b",
    _I,
)
WHY_FOLLOW_UP = re.compile(r"^\s*(why|how come|on what basis|what was that based on)\b", _I)
FOLLOW_UP_MAX_WORDS = 9

# Where one turn asks for two things: "...; then ...", "... and also ...", "... and check ...".
_ACTION = r"(?:check|find|give|draft|write|show|list|count|pull|search|explain|redo|tell|mark|is|how|what|why|ignore)"
SPLIT = re.compile(
    rf"(?:\s*[;.?!]\s*(?:and\s+)?(?:then|also)?,?\s+(?={_ACTION}\b)|\s*[;.?!,]?\s+(?:and then|then),?\s+|\s*[;.?!,]?\s+(?:and also|also),?\s+(?={_ACTION}\b)|\s+and\s+(?=(?:then\s+)?{_ACTION}\b))",
    _I,
)


def decline_kind(text: str, identifiers_allowed: bool = False) -> tuple[DeclineKind, str] | None:
    """The governance rule a request breaks, as (kind, matched text), or ``None``.

    Injection is checked first (it may also ask for identifiers: the injection is the reason),
    then harm, then identifiers (skipped only for a role allowed to see them). The governance
    guards (``policies.guards``) decide first; the router's own phrase lists add what a chat
    request may say on top (their match is the reason shown).
    """
    for kind, verdict in (("injection", detect_injection(text, "user")), ("harmful", detect_harm(text))):
        if verdict.flagged:
            rules = {getattr(m, "rule", "") for m in verdict.matched}
            if kind == "injection" and rules and all(r.startswith("ident") for r in rules):
                kind = "identifiers"  # a plain ask for identifiers, not an attempt to override instructions
                if identifiers_allowed:
                    continue
            return kind, verdict.reason  # type: ignore[return-value]
    for kind, patterns in (
        ("injection", EXTRA_INJECTION),
        ("harmful", HARMFUL_PATTERNS),
    ):
        for pattern in patterns:
            if match := pattern.search(text):
                return kind, match.group(0)  # type: ignore[return-value]
    if not identifiers_allowed:
        for pattern in IDENTIFIER_PATTERNS:
            if match := pattern.search(text):
                return "identifiers", match.group(0)
    return None


def command(text: str) -> tuple[str, str] | None:
    """``/search large effusion`` -> ("search", "large effusion") for a routable task name."""
    match = COMMAND.match(text.strip())
    if match and match.group("task") in ROUTABLE_TASKS:
        return match.group("task"), match.group("rest").strip()
    return None


def is_follow_up(text: str) -> bool:
    """A short turn that only makes sense with the previous one."""
    return len(text.split()) <= FOLLOW_UP_MAX_WORDS and bool(FOLLOW_UP.match(text))


def is_why_follow_up(text: str) -> bool:
    """A short "why?" about the previous answer (answered from the thread's evidence)."""
    return len(text.split()) <= FOLLOW_UP_MAX_WORDS and bool(WHY_FOLLOW_UP.match(text))


def split_intents(text: str) -> list[str]:
    """The parts of a turn that asks for several things, in order (one part when it asks for one)."""
    parts = [p.strip(" ,;.") for p in SPLIT.split(text)]
    return [p for p in parts if len(p.split()) >= 2] or [text]


# Strong lexical signals for the tasks the classifier confuses (read off the dev split's
# cross-validation errors: feedback vs answer, cohort vs interactions, report vs differential).
# Checked in this order: a correction or a question about the system wins over the topic it names.
INTENT_RULES: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    (task, name, re.compile(pattern, _I))
    for task, name, pattern in (
        ("clarify", "greeting", r"^\s*(hi|hello|hey|good (morning|afternoon|evening))\W*$"),
        (
            "feedback",
            "correction",
            r"(?<!what's )(?<!what is )\b(wrong|incorrect|mislabel(l?ed)?|relabel|thumbs (up|down)|downvote|upvote|false (positive|negative)|hallucinat\w*|disagree|"
            r"mistake|is a mistake|not similar|irrelevant|rating \d|\d/5)\b|\bfeedback\b|\b(record|log|note) (it|that|this)\b|\bnote for qa\b|"
            r"\bnot right\b(?![- ]sided)|\b(flag|mark) (this|it|that) as\b|\btoo (long|short|verbose|vague)\b|"
            r"\b(good|great|nice|excellent) (job|work|answer)\b|\bwell done\b|\bwas (very |really )?(helpful|useful|useless|unhelpful|off)\b|"
            r"\bshould (have )?(include|included|mention|mentioned|list|listed|cite|cited)\b|\bplease note\b|"
            r"\b(didn'?t|did not|doesn'?t|does not|failed to) (mention|include|cite|list|catch|pick up|flag)\b|\bspot on\b|\bsays\b.{0,40}\bbut (there|it)\b|"
            r"\b(ddx|differential|draft|impression|answer|search|check|results?) (was|were|is|are) (great|good|perfect|excellent|useless|poor|off|helpful|useful|not useful)\b|"
            r"\bmark\b.{0,40}\b(absent|present|uncertain|accepted|incorrect)\b|\bshould be (labell?ed |marked )?(absent|present|uncertain)\b|"
            r"\b(correct|fix|change|update)\b.{0,12}\blabels?\b|\blabel (correction|error)\b|\bcorrection\b|\bmissed (the|a)\b",
        ),
        (
            "answer",
            "about-the-system",
            # "why was/did ..." asks about an earlier answer; "why might a pt have ..." is a differential.
            r"^\s*why (was|did|were|has|have|no|not)\b|^\s*why (is|are|does) (the|my|that|this|it|your)\b|^\s*explain (why|how|what|the)\b|"
            r"\b(last|previous|earlier) (run|answer|draft|request|question|report|time)\b|\bthe labell?er\b|\bcited\b|"
            r"\b(your|the) (labels?|finding list|interaction table|table)\b|\bdefinition\b|\bdefine\b|\bsources? (is|for|of)\b|\bwhat (does|do) .{1,40} (mean|include|cover)\b|"
            r"\bwhere does\b.{0,60}\bcome from\b|\b(did you|you) (cite|use|call|base|decide|say)\b|\bdid you run\b|\broute reason\b|"
            r"\b(the|its|run'?s|answer'?s) trace\b|\btrace (of|for) (the|my|that|this|last)\b",  # not "trace effusions"
        ),
        (
            "search",
            "similar-cases",
            r"\b(similar|resembl\w*|look-?alike|comparable|neighbou?rs?|cases like|priors? like|examples (of|like))\b|"
            r"\b(prior|previous|old|reference|teaching|matching) (cases|studies|films|reports|x-?rays)\b",
        ),
        (
            "cohort",
            "population",
            r"^\s*(which|how many|list|count|number of|show me( all)?|find all|give me (a list|the number|counts?))\b.{0,25}\b(patients|pts|reports|studies|women|men|films)\b",
        ),
        (
            "cohort",
            "patient-record",
            r"\b(meds|medications?|medication list|conditions|problems|problem list|allergies|record|chart)\s+(of|for)\s+(patient|pt)\.?\s*[:#]?\s*[A-Za-z]?\d|"
            r"^\s*(summari[sz]e|list|show|pull|get)\b.{0,25}\b(patient|pt)\.?\s*[:#]?\s*[A-Za-z]?\d|"
            r"^\s*(what|which) (meds|medications|drugs|conditions|problems|diagnoses)\b.{0,25}\b(patient|pt)\.?\s*[:#]?\s*[A-Za-z]?\d\w*\s+(on|taking|have|has)\W*$",
        ),
        (
            "interactions",
            "interaction",
            r"\b(interact\w*|ddis?)\b|\bagainst\b.{0,30}\b(meds|medications|current drugs)\b|\b(conflicts?|clash(es)?) with\b",
        ),
        (
            "differential",
            "ddx",
            r"\b(ddx|dd|differentials?|differntial|differentail|diff ?dx)\b|\bwhat else could (this|it) be\b|"
            r"\b(likely|possible|common|potential|most likely) (causes|diagnoses|dx|etiolog\w*)\b|\bcauses of\b|\bwhat could (cause|explain|be causing)\b",
        ),
        (
            "report",
            "impression",
            r"\b(impression|impresion|impresssion|imp)\b|\bdra?ft\b(?! (an? |my |the )?(e-?mail|letter|message|poem|essay|speech|text|tweet)\b)|\bwrite[- ]?up\b|\breport (draft|please|pls)\b",
        ),
    )
)


def intent_rule(text: str) -> tuple[str, str] | None:
    """(task, rule name) when a strong lexical signal decides the task, else ``None``."""
    for task, name, pattern in INTENT_RULES:
        if pattern.search(text):
            return task, name
    return None
