"""Harmful-request detection: requests to hurt a patient or falsify care are declined at the gate.

The line drawn: clinical *knowledge* is ordinary work ("max dose of acetaminophen", "digoxin
toxicity signs", "lethal arrhythmia differential", "toxic dose of paracetamol in children",
"suicide risk assessment"); a request to *act* to harm someone, or to help do it, is not. So the
rules pair a harmful object (a lethal or fatal amount, death, an alarm, a record) with an action
on a person or a concealment intent:

- lethal dosing as an order ("prescribe a lethal dose of digoxin for this patient");
- killing or hastening death (euthanasia orders, potassium-chloride push to stop the heart);
- self-harm facilitation (methods, amounts "to die");
- falsified or backdated records, orders, signatures, results;
- disabling alarms, monitors or safety limits;
- poisoning, covert medication, concealment ("so nobody notices", "undetectable").

A plain question about a lethal dose (toxicology) is not declined; the same words with
"prescribe", "give him", "write the order" are.
"""

from __future__ import annotations

from policies.guards.concepts import HARM_CONCEPTS
from policies.guards.normalize import views
from policies.guards.rules import Rule, combine, reason, rule, run_rules
from policies.guards.verdict import GuardVerdict

THRESHOLD = 0.5

_PERSON = r"(?:th(?:is|e) (?:patient|pt)(?: in (?:room|bed) \w+)?|(?:the )?(?:patient|pt|man|woman|lady|child) in (?:room|bed) \w+|the pt|him|her|them|my (?:\w+ ){0,2}?(?:wife|husband|mother|father|mom|dad|son|daughter|child|baby|boss|neighbou?r|partner|patient|roommate|grandmother|grandfather|brother|sister|friend)|someone|somebody|a person|bed \d+|room \d+|this (?:man|woman|child|baby|resident|person)|the (?:old|elderly) (?:man|woman|lady))"
_ACT = r"(?:prescribe|order|write (?:up )?(?:an? |the )?(?:order|prescription|script)|administer|give|inject|push|infuse|dispense|start|put (?:\w+ )?on|hang|titrate)"
_LETHAL = r"(?:lethal|fatal|deadly|killing|deathly|life-ending)"

HARM_RULES: tuple[Rule, ...] = (
    # Lethal amounts as an order or aimed at a person.
    rule("lethal-order", "lethal-dose", 0.9, rf"\b{_ACT}\b.{{0,60}}\b{_LETHAL} (?:\w+ ){{0,2}}?(?:dose|amount|quantity|injection|overdose|infusion|drip|bolus|push)|\b{_LETHAL} (?:dose|amount|quantity|injection|infusion)\b.{{0,60}}\b(?:for|to|into|on) {_PERSON}"),
    rule("lethal-intent", "lethal-dose", 0.9, rf"\b(?:how much|what (?:dose|amount)|what'?s (?:a|the) (?:dose|amount)|which dose|how many (?:mg|milligrams|units|tablets|pills|vials|ampoules?))\b.{{0,80}}\b(?:to|would|will|could|that) (?:kill|end (?:the |his |her |their )?life|stop (?:his|her|their|the) heart|make (?:him|her|them) die|be (?:lethal|fatal) (?:to|for) {_PERSON})"),
    rule("multiple-dose", "lethal-dose", 0.85, rf"\b(?:{_ACT}|gets?|receives?)\b.{{0,40}}\b(?:ten|twenty|fifty|hundred|\d{{2,3}}|several|many|multiple|five|5)[ -]?(?:times|x|fold)\b.{{0,20}}\b(?:the )?(?:usual|normal|prescribed|recommended|max(?:imum)?|standard|correct|safe|ordered)? ?dose\b"),
    rule("staged-death", "kill", 0.9, r"\b(?:make|making) (?:the |his |her |their |it |this )?(?:death )?(?:look|appear|seem) (?:natural|like (?:natural causes|a natural death|an accident|suicide|a heart attack))"),
    rule("euphemism-kill", "kill", 0.85, r"\bend (?:his|her|their|the patient'?s) suffering (?:permanently|for good|forever|once and for all)|\bstrong enough to (?:kill|end (?:his|her|their) (?:life|suffering)|stop (?:his|her|their) (?:heart|breathing))"),
    rule("conceal", "concealment", 0.45, r"\b(?:don'?t|do not|never) (?:tell|inform|let) (?:the )?(?:team|family|nurses?|doctors?|pharmacy|pharmacist|anyone|attending)\b|\bkeep (?:it|this) (?:quiet|secret|between us|off the (?:record|chart))"),
    rule("alarm-off", "disable-safety", 0.85, r"\b(?:turn|switch|shut|keep|leave)\b (?:\S+ ){0,3}?(?:alarms?|alerts?)\b (?:\S+ ){0,3}?off\b"),
    rule("false-charting", "falsified-record", 0.85, r"\b(?:chart|document|record|write|note|enter)\b (?:that )?.{0,60}\b(?:even though|although|when in fact|but) (?:we|i|they|he|she|nobody|no one) (?:never|didn'?t|did not|haven'?t|have not|wasn'?t|weren'?t)\b"),
    rule("overdose-person", "lethal-dose", 0.85, rf"\b(?:overdose|od)\b(?:\W+\w+){{0,2}}?\W+{_PERSON}\b|\b(?:give|make) {_PERSON} (?:an? )?overdose\b|\b(?:give|administer|inject|push)\b.{{0,40}}\ban? (?:massive |deliberate |intentional )?overdose\b"),
    # Killing / euthanasia orders.
    rule("kill-person", "kill", 0.95, rf"\b(?:kill|murder|euthani[sz]e|put down|finish off|get rid of|poison|suffocate|smother|asphyxiate)\b\W+{_PERSON}\b"),
    rule("end-life", "euthanasia", 0.9, rf"\bhasten(?:ing)? (?:the )?death of {_PERSON}|\b(?:end|terminate|shorten|hasten)\b\W+(?:th(?:is|e) patient'?s|his|her|their|my \w+'?s)\W+(?:life|death)\b|\b(?:euthanasia|mercy killing|assisted (?:suicide|dying)) (?:order|protocol|injection|drip|cocktail)\b|\b(?:write|draft|enter|place)\b.{{0,30}}\b(?:euthanasia|mercy killing)\b"),
    rule("kcl-push", "euthanasia", 0.9, r"\b(?:potassium chloride|kcl)\b.{0,30}\b(?:iv push|push|bolus|undiluted|rapid(?:ly)?)\b.{0,40}\b(?:stop|arrest|kill|end)|\b(?:stop|arrest) (?:his|her|their|the patient'?s) heart\b"),
    rule("insulin-harm", "kill", 0.85, r"\b(?:insulin|succinylcholine|sux|vecuronium|fentanyl|morphine|midazolam|air)\b.{0,40}\b(?:to kill|so (?:he|she|they) (?:dies?|won'?t wake)|that (?:can'?t|cannot|won'?t) be (?:detected|traced)|without (?:anyone|the family) (?:knowing|noticing))"),
    # Self-harm facilitation (first person, methods or amounts).
    rule("self-harm", "self-harm", 0.95, r"\b(?:how (?:can|do|should|could) i|best way to|easiest way to|painless(?:ly)?(?: way)? to|quickest way to|help me)\b.{0,40}\b(?:kill myself|end my (?:own )?life|commit suicide|take my (?:own )?life|die by suicide|overdose(?: myself)?|hang myself|not wake up)\b|\bhow many\b.{0,40}\b(?:pills|tablets|mg)\b.{0,40}\b(?:to die|to kill myself|to end (?:it|my life)|to not wake up|would kill me)\b|\b(?:i want to|i'?m going to|going to) (?:kill myself|end my life|overdose)\b"),
    # Falsified orders, records, signatures, results.
    rule("falsify", "falsified-record", 0.9, r"\b(?:falsify|falsified|forge|forged|fake|fabricate|fabricated|backdate|backdated|counterfeit|doctor(?:ed)?|fraudulent(?:ly)?)\b(?:\W+\w+){0,4}?\W+(?:records?|charts?|notes?|orders?|prescriptions?|scripts?|signatures?|results?|labs?|reports?|documentation|consents?|entries|vitals|vital signs?|counts?|waste|mar|medication administration|timestamps?|findings|diagnos[ei]s|certificates?|discharge summary)\b"),
    rule("alter-to-hide", "falsified-record", 0.85, r"\b(?:change|alter|edit|modify|remove|delete|erase|rewrite|hide|omit)\b.{0,60}\b(?:record|chart|note|report|results?|documentation|mar|finding|allergy|incident|error|dose|timestamp)s?\b.{0,60}\b(?:so (?:that )?(?:no ?one|nobody|the (?:family|auditors?|inspectors?|board|lawyers?|patient)|they|it looks)|to (?:hide|cover|conceal)|cover (?:it |this )?up|make it look|(?:no ?one|nobody) (?:will |would |can |could )?(?:notices?|knows?|finds? out|sees?)|so (?:that )?the \w+ (?:won'?t|can'?t|doesn'?t|don'?t|will not|cannot) (?:see|notice|know|block|find|catch)|before (?:the )?(?:audit|inspection|lawyers?|family)|without (?:anyone|the patient|the family) (?:knowing|noticing))"),
    rule("sign-as-other", "falsified-record", 0.85, r"\b(?:sign|co-?sign|use)\b.{0,30}\b(?:as|with|under) (?:dr\.?|doctor|another|someone else'?s?|the attending'?s?|his|her)\b.{0,30}\b(?:name|signature|login|credentials|account)?|\bunder someone else'?s (?:name|login|credentials)\b"),
    # Disabling alarms, monitors, limits.
    rule("disable-alarm", "disable-safety", 0.85, r"\b(?:disable|deactivate|switch off|turn off|shut off|unplug|cut|bypass|override|permanently (?:silence|mute))\b(?:\W+\w+){0,4}?\W+(?:alarms?|alerts?|monitors?|monitoring|telemetry|pump (?:limits?|alarms?)|safety (?:limits?|interlocks?|checks?|features?)|interlocks?|guardrails on the pump|dose (?:limits?|error reduction)|call bell)\b"),
    rule("silence-intent", "disable-safety", 0.85, r"\b(?:silence|mute|ignore)\b.{0,40}\b(?:alarms?|alerts?|monitors?)\b.{0,40}\b(?:so (?:that )?(?:no ?one|nobody|staff|the nurses?|the family) (?:notices?|comes?|knows?|hears?)|until (?:he|she|they) (?:dies?|stops breathing|codes?)|to let (?:him|her|them) die)"),
    # Poisoning, covert administration, concealment.
    rule("poison", "poisoning", 0.9, r"\b(?:poison|poisoning|spike|tamper with)\b(?:\W+\w+){0,3}?\W+(?:food|drink|coffee|iv bag|infusion|medication|meds|feed|bag|drip|water)\b|\bundetectable (?:poison|drug|toxin|overdose|way)\b|\b(?:untraceable|undetectable|not show up on (?:a )?(?:tox|autopsy|toxicology))\b"),
    rule("covert", "concealment", 0.75, rf"\b(?:{_ACT}|withhold|stop|switch|swap|replace|double|triple)\b.{{0,60}}\b(?:without (?:telling|informing|(?:his|her|their|the patient'?s|the family'?s) (?:knowledge|consent))|without (?:the |his |her |their )?(?:family|patient|anyone|nurses?|staff|doctors?)(?:'s)? (?:knowing|noticing|knowledge|consent)|secretly|covertly|so (?:that )?(?:no ?one|nobody|the (?:family|patient|nurses?)) (?:notices?|knows?|finds? out|can tell)|looks? like (?:natural causes|an accident|a heart attack))"),
    rule("enough-to-die", "lethal-dose", 0.9, r"\benough\b.{0,60}\b(?:that|so|to make|until) (?:he|she|they|him|her|them|the patient) (?:stops? breathing|dies?|die|won'?t wake(?: up)?|never wakes?(?: up)?|stops? (?:his|her|their) heart)"),
    rule("withhold-harm", "concealment", 0.8, r"\b(?:withhold|stop|cut off|hold back)\b.{0,40}\b(?:insulin|oxygen|feeds?|fluids|medications?|meds|treatment|food|water|pain relief|analgesia)\b.{0,40}\b(?:as punishment|to punish|until (?:he|she|they) (?:dies?|suffers?|complies?|learns?)|to teach|to make (?:him|her|them) suffer|so (?:he|she|they) (?:dies?|suffers?))"),
    rule("divert", "drug-diversion", 0.85, r"\b(?:divert|steal|pocket|skim|take home|keep)\b.{0,40}\b(?:fentanyl|morphine|oxycodone|hydromorphone|opioids?|narcotics|controlled (?:drugs|substances)|benzos?|ketamine|propofol)\b.{0,60}\b(?:without|so|undetected|unnoticed|get caught|being caught|waste|count)|\bhow (?:to|do i|can i) (?:fake|falsify|cheat) (?:the )?(?:narcotic |controlled drug |opioid )?(?:waste|count)\b"),
    # Concepts meeting in one sentence, in any wording (policies/guards/concepts.py).
    *HARM_CONCEPTS,
)


def detect_harm(text: str) -> GuardVerdict:
    """Judge a request for harm to patients or others, or for falsified care.

    Args:
        text: The request (free text or the string fields of a task input).

    Returns:
        A :class:`GuardVerdict`; ``flagged`` requests are declined before any task runs.
    """
    v = views(text or "")
    hits = run_rules(HARM_RULES, v, None)
    score = combine(h.weight for h in hits)
    flagged = score >= THRESHOLD
    return GuardVerdict(guard="harm", flagged=flagged, score=score, threshold=THRESHOLD, matched=hits, reason=reason("harm", hits, flagged))
