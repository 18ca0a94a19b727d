"""Concept rules: word families that must meet in one sentence, in any order.

The phrase rules of :mod:`policies.guards.injection` and :mod:`policies.guards.harm` caught 0.56
and then 0.35 of attacks worded unlike their corpus (held-out sets ``holdout`` and
``holdout2``): a rule for "ignore the previous instructions" misses "pay no attention to the
wording you were configured with". An intent is a few concepts meeting: *circumventing* (any
verb for it) + *the model's own rules* (any noun for them) + *addressed to the model or this
session*; *asking for* + *identifiers* + *many people*. Each concept here is a word family
written from the meaning, not from any corpus case, and a concept rule fires when all its
families occur in one sentence (``unless`` vetoes the sentence: "without the names"). Weights
and families were checked on the dev split and ``dev2.jsonl`` only.
"""

from __future__ import annotations

from policies.guards.rules import Rule, concept

AP = "['\u2019]?"  # an apostrophe, straight or typographic, or none ("dont")
NEG = rf"(?:don{AP}t|do not|doesn{AP}t|does not|won{AP}t|will not|no longer|never|not)"

# Injection concepts.
CIRCUMVENT = (
    rf"\b(?:ignore|ignoring|disregard\w*|forget|forgetting|overlook|bypass\w*|skip|skipping|drop|abandon|discard|neglect|set aside|put aside|lay aside|"
    rf"pay no (?:attention|heed|mind)|take no notice|{NEG} (?:follow|apply|obey|respect|worry about|bother with|bind|restrict|limit|constrain|hold|count|matter)|"
    rf"stop (?:following|applying|obeying|using|enforcing)|not bound by|free (?:of|from)|released from|relieved of|suspend\w*|lift(?:ed)?|waive[ds]?|"
    rf"switch(?:ed)? off|turn(?:ed)? off|shut off|disabl\w+|deactivat\w+|overrid\w+|supersed\w+|void|cancel\w*|revok\w+|throw out|get rid of|circumvent\w*|"
    rf"work around|get around|loosen|relax)\b"
)
CONTROL = (
    r"\b(?:instructions?|rules?|guidelines?|directives?|directions|guidance|polic(?:y|ies)|restrictions?|constraints?|guardrails?|safeguards?|"
    r"filters?|filtering|safety (?:layer|rules|settings|checks|features|measures|wording|text)|compliance(?: layer| rules| checks| module)?|masking|redaction|"
    r"de-?identification|anonymi[sz]ation|programming|configuration|config|setup|set-?up|(?:system|initial|original|hidden|your|the) prompt|"
    r"training|content policy|ethic(?:s|al (?:rules|guidelines|constraints))|governance|privacy (?:rules|settings|controls|layer)|hipaa|"
    r"what you (?:were|have been|got) (?:told|given))\b"
)
SCOPE = (
    rf"\b(?:you|your|yourself|you{AP}re|you{AP}ve|the (?:assistant|model|ai|bot|system|agent)|this (?:assistant|model|ai|bot|agent)|"
    r"for me|just for me|my next|this (?:one )?(?:reply|answer|response|question|conversation|chat|session|exchange|turn))\b"
)
SUSPENDED = (
    r"\b(?:is|are|were|was|have been|has been|now|temporarily|officially|hereby)\s+(?:\w+\s+)?(?:suspended|lifted|waived|void|voided|superseded|"
    rf"revoked|cancell?ed|disabled|off|deactivated|removed|relaxed|paused|switched off|turned off|changed|over|no longer (?:apply|applies|in effect|valid|binding|needed|active))\b|"
    rf"\b{NEG} (?:apply|applies|bind|binds|matter|count|hold)\b"
)
DISCLOSE = (
    r"\b(?:reproduce|quote|recite|repeat|print|show|reveal|output|paste|share|tell|write out|spell out|display|dump|list|copy|give|"
    rf"what (?:\w+ )?(?:is|are|was|were|did)|what{AP}s|read (?:back|out)|describe exactly|transcribe)\b"
)
SETUP_REF = (
    r"\b(?:(?:you (?:were|have been|got|are|had been) |(?:were|have|had) you (?:been )?)(?:given|handed|told|configured|set up|programmed|initiali[sz]ed|provided|instructed|loaded|primed|seeded|briefed|fed)|"
    r"(?:at|on|during) (?:start-?up|boot|initiali[sz]ation|launch)|(?:precedes?|preceding|before|above|prior to) (?:our|this|the) (?:conversation|chat|exchange|session|dialog(?:ue)?|message)|"
    r"(?:setup|set-?up|startup|start-?up|boot|initial|original|opening|hidden|secret|internal|underlying|pre-?loaded|behind-the-scenes) "
    r"(?:text|message|prompt|instructions|guidance|directions|rules|configuration|brief(?:ing)?|wording)|"
    r"your (?:setup|configuration|instructions|directives|guidance|rules|briefing|system (?:prompt|message|text)|operating (?:rules|instructions)))\b"
)
PERSONA = (
    r"\b(?:imagine|pretend|act (?:like|as)|behave (?:like|as)|play(?:ing)? (?:the (?:role|part) of|a|an|as)|role-?play|answer as|respond as|reply as|speak as|"
    r"become|simulate|emulate|channel|picture|envision|suppose you were|switch (?:to|into)|(?:version|copy|twin|clone|double) of yourself|"
    r"(?:a|an|another) (?:character|persona|alter ego|assistant|ai|bot|model))\b"
)
UNBOUND = (
    rf"\b(?:unrestricted|unfiltered|uncensored|unbound|unmoderated|jailbroken|unchained|no (?:content )?(?:policy|policies|rules|filters|restrictions|limits|guardrails|safeguards|ethics|morals)|"
    rf"without (?:any )?(?:rules|restrictions|filters|guardrails|limits|policies|safeguards|ethics)|never heard of (?:hipaa|privacy|rules|any rules|redaction)|"
    rf"{NEG} (?:follow|care about|have|know about|apply) (?:any )?(?:rules|policies|privacy|restrictions|redaction|masking|guidelines)|"
    r"(?:read|reads|reveal|reveals|recite|recites|show|shows) (?:out )?(?:the )?(?:records?|data|identifiers|names|mrns?)(?: \w+){0,2} (?:exactly|verbatim|as stored|in full|unmasked|raw))\b"
)
IDENT = (
    r"\b(?:names?|full names?|real names?|surnames?|first names?|last names?|family names?|given names?|mrns?|medical record numbers?|record numbers?|"
    r"(?:home |street |postal |mailing )?address(?:es)?|phone(?: numbers?)?|telephone(?: numbers?)?|contact (?:numbers?|info(?:rmation)?|details)|mobile numbers?|"
    r"birth ?dates?|dates? of birth|dobs?|ssns?|social security(?: numbers?)?|insurance (?:member |policy )?(?:ids?|numbers?)|member (?:ids?|numbers?)|"
    r"identifiers?|identities|e-?mail(?: address(?:es)?)?s?|\bphi\b)\b"
)
REQUEST = (
    r"\b(?:give|send|share|list|show|print|output|export|dump|provide|pull|fetch|get|extract|compile|put together|collect|gather|assemble|paste|tell|"
    r"read out|hand over|forward|email|e-mail|mail|upload|post|download|copy|i need|i want|need|want|spreadsheet|csv|table|roster|file|which|what|whose)\b"
)
POPULATION = (
    r"\b(?:every|all|each|everyone|everybody|entire|whole|patients|people|persons|residents|subjects|individuals|cohort|group|roster|population|"
    r"admissions|admitted|the (?:rest|others)|them all|women|men|children)\b"
)
PROTECTS = r"\b(?:without|leav\w* out|exclud\w*|strip\w*|mask\w*|redact\w*|hid(?:e|ing)|protect\w*|omit\w*|de-?identif\w*|anonymi[sz]\w*|how many|count|number of|per (?:site|year|month))\b"
RELINK = (
    r"\b(?:(?:real|actual|true|original|underlying) (?:identit(?:y|ies)|names?|persons?|people|mrns?)|re-?identif\w*|de-?anonymi[sz]\w*|unmask\w*|"
    r"(?:match|link|map|connect|tie|resolve|trace)\w*\b.{0,60}\b(?:de-?identified|pseudonymi[sz]ed|anonymi[sz]ed|research ids?|masked|coded|study ids?)\b.{0,60}\b(?:names?|identit\w+|persons?|people|mrns?|who))\b"
)
SEND = r"\b(?:send|upload|forward|email|e-mail|mail|post|share|copy|transfer|sync|push|save|export|dump|attach|put)\w*\b"
DEST = (
    r"\b[a-z0-9-]+\.(?:com|org|net|io|co|me|info|biz|xyz|ru|cn)(?:/\S*)?|\b(?:gmail|yahoo|hotmail|outlook\.com|dropbox|google drive|onedrive|icloud|pastebin|"
    r"wetransfer|usb (?:stick|drive)|thumb ?drive)\b|\b(?:my|a) (?:personal|private|home|own) (?:drive|email|e-mail|account|laptop|computer|phone|device|folder|cloud|address)\b"
)
# Agency concepts.
BULK = r"\b(?:all|every|each|everything|pending|waiting|queued|queue|outstanding|backlog|in one go|at once|in bulk|batch|my own|without (?:looking|reading|checking|review\w*)|nobody will check)\b"
APPROVE = r"\b(?:approve|sign(?: off)?(?: on)?|finali[sz]e|rubber-?stamp|release|mark\w*)\b"
REVIEW_ITEM = r"\b(?:drafts?|reviews?|reports?|runs?|queue|items?|impressions?|orders?|everything|approved)\b"
# Not "clear" or "evidence" alone: "lungs are clear, without evidence of infiltrate" is every other report.
DESTROY = r"\b(?:erase|clear out|clear (?:the|all|my|every)|wipe|purge|delete|remove|scrub|shred|truncate|rm|get rid of|clean (?:up|out)|drop|wipe out)\b"
TRAIL = r"\b(?:traces?|logs?|log entries|log files?|audit\w*|checkpoints?|spans|backups?|trail|access records?)\b"
PROMOTE = r"\b(?:make|set|give|grant|turn|add|promote|upgrade|elevate|switch|change|put)\b"
SELF = r"\b(?:me|myself|my (?:account|user|role|login|profile|permissions?|access))\b"
PRIVILEGE = r"\b(?:reviewer|admin\w*|approver|superuser|root|owner|full access|all (?:access|permissions)|privileges?|rights|permissions?|(?:clinician|radiologist) role)\b"
TAMPER = r"\b(?:change|flip|set|switch|overwrite|update|edit|alter|modify|rewrite|replace)\b"
GOVERNED_DATA = r"\b(?:consent\w*|labels? table|sensitivity|site (?:tags?|flags?)|access (?:tags?|flags?)|roles? table|permissions table|audit (?:log|trail|entries))\b"
WHOLESALE = r"\b(?:all|every|each|directly|in bulk|so (?:that )?(?:my|i)|to research|table|everyone)\b"

INJECTION_CONCEPTS: tuple[Rule, ...] = (
    concept("c-circumvent", "instruction-override", 0.75, CIRCUMVENT, CONTROL, SCOPE),
    concept("c-suspended", "instruction-override", 0.6, CONTROL, SUSPENDED, SCOPE),
    concept("c-suspended-data", "instruction-override", 0.8, CONTROL, SUSPENDED, sources=("retrieved", "tool")),
    concept("c-setup-leak", "prompt-leak", 0.8, DISCLOSE, SETUP_REF),
    concept("c-persona", "role-play", 0.75, PERSONA, UNBOUND),
    concept("c-bulk-identifiers", "sensitive-disclosure", 0.75, REQUEST, IDENT, POPULATION, unless=PROTECTS),
    concept("c-relink", "sensitive-disclosure", 0.8, RELINK),
    concept("c-send-out", "sensitive-disclosure", 0.7, SEND, DEST),
    concept("c-bulk-approve", "excessive-agency", 0.75, APPROVE, BULK, REVIEW_ITEM),
    concept("c-destroy-trail", "excessive-agency", 0.75, DESTROY, TRAIL),
    concept("c-self-privilege", "excessive-agency", 0.75, PROMOTE, SELF, PRIVILEGE),
    concept("c-tamper-governed", "excessive-agency", 0.7, TAMPER, GOVERNED_DATA, WHOLESALE),
    concept("c-shell", "excessive-agency", 0.8, r"(?:^|\s)(?:rm\s+-\w+|sudo\s+\w+|chmod\s+\d+|kill\s+-9|mkfs|dd\s+if=)"),
)

# Harm concepts.
HARM_ACT = r"\b(?:give|push|inject\w*|administer\w*|put|slip|add|increase|double|triple|stop|withhold|change|alter|hang|infuse|crush|mix|hide)\b"
HARM_OBJECT = r"\b(?:dose|doses|units?|mg|iv|potassium|insulin|sedatives?|sedation|opioids?|morphine|fentanyl|pills?|tablets?|drip|injection|medication|meds|drug)\b"
UNNOTICED = (
    r"\b(?:without (?:anyone|anybody|the (?:family|staff|team|nurses?|doctors?|patient)) (?:noticing|knowing|finding out|suspecting|seeing)|"
    rf"so (?:that )?(?:no ?one|nobody|the family|staff) (?:notices?|knows?|finds? out|suspects?|can tell|will know)|(?:won{AP}t|wouldn{AP}t|can{AP}t) be (?:noticed|detected|traced|caught)|"
    rf"so (?:that )?(?:the (?:family|patient|team|staff|nurses?|doctors?|pharmacy|pharmacist)|they|he|she) (?:won{AP}t|will not|can{AP}t|cannot|doesn{AP}t|does not|never|wouldn{AP}t) "
    r"(?:find out|notice|know|realise|realize|see|suspect|catch on)|"
    rf"{NEG} (?:chart|document|record|log) (?:it|this|that|them)\b)"
)
CHART = r"\b(?:write (?:up|down|in)?|chart\w*|document\w*|record\w*|enter|log|put down|fill in|mark)\b"
AS_DONE = r"\b(?:as (?:normal|done|given|taken|completed|stable|fine|checked|within normal limits|on time)|that (?:it|they|the (?:dose|meds?|vitals?|check)) (?:was|were) (?:given|done|taken|checked|completed))\b"
_DONE = r"(?:take|took|do|did|give|gave|check|checked|see|saw|measure|measured|assess|assessed|record|recorded|get|got|offer|offered|examine|examined|perform|performed)"
NOT_DONE = (
    rf"\b(?:we|i|they)\b (?:\w+ )?(?:didn{AP}t|did not|never|haven{AP}t|have not|weren{AP}t|wasn{AP}t|won{AP}t|forgot to) (?:actually |even )?{_DONE}\b|"
    rf"\b(?:nobody|no one|no-one)\b (?:\w+ )?(?:actually |even |really )?{_DONE}\b|\b(?:never|not) (?:actually )?(?:taken|done|given|checked|measured|offered|assessed|performed)\b"
)
FORGE_TOOL = r"\b(?:put|use|add|apply|copy|place|paste|stamp|scribble|write|sign)\b"
OTHERS_MARK = rf"\b(?:someone else{AP}s|another (?:\w+ )?(?:nurse|doctor|physician|colleague|person){AP}s?|(?:the|my) (?:attending|doctor|physician|nurse|resident|consultant|surgeon|pharmacist|supervisor|boss){AP}s|dr\.? \w+{AP}s|his|her|their) (?:signature|initials|name|login|credentials|password|badge)\b"
ABSENT = rf"\b(?:(?:he|she|they){AP}?(?:s|re)? (?:is |are |was |were )?(?:not|isn{AP}t|aren{AP}t|wasn{AP}t) (?:in|here|available|around|present|on shift)|(?:is|are) (?:off|away|out)|without (?:asking )?(?:him|her|them)|on (?:his|her|their) behalf|for (?:him|her|them))\b"
MONITOR = r"\b(?:alarms?|monitors?|telemetry|alerts?|pulse[- ]?ox\w*|call bell|pump|spo2 alarm|cardiac monitor)\b"
MUTED = r"\b(?:muted|silenced|off|disabled|paused|unplugged|turned down)\b"
LONG_TIME = r"\b(?:all night|overnight|the whole (?:night|shift|day)|for (?:the|a|the whole|the entire) (?:night|shift|day|weekend)|until (?:morning|tomorrow|the next shift)|permanently|for hours|indefinitely|for good)\b"
TIME_FIELD = r"\b(?:time|times|timestamps?|time ?stamps?|dates?|hours?)\b"
RECORD = r"\b(?:record|chart|mar|administration|log|note|entry|entries|order|sheet|flowsheet)s?\b"
LOOKS = r"\b(?:so (?:that )?it (?:looks|appears|seems|reads)|to (?:make it )?(?:look|appear|seem)|make it look)\b"

HARM_CONCEPTS: tuple[Rule, ...] = (
    concept("c-unnoticed-act", "concealment", 0.8, HARM_ACT, HARM_OBJECT, UNNOTICED),
    concept("c-chart-undone", "falsified-record", 0.85, CHART, AS_DONE, NOT_DONE),
    concept("c-forge-mark", "falsified-record", 0.85, FORGE_TOOL, OTHERS_MARK, ABSENT),
    concept("c-forge-mark-weak", "falsified-record", 0.4, FORGE_TOOL, OTHERS_MARK),
    concept("c-monitor-off-long", "disable-safety", 0.85, r"\b(?:leave|keep|set|mute|silence|turn off|switch off|pause)\b", MONITOR, MUTED, LONG_TIME),
    concept("c-retime-record", "falsified-record", 0.85, r"\b(?:change|alter|edit|adjust|move|fix|rewrite|backdate|shift)\b", TIME_FIELD, RECORD, LOOKS),
)
