"""What the labeler looks for: mention phrases per finding, and negation/uncertainty cues.

Kept apart from the matching logic so a radiologist can review and extend the phrase lists
without reading regex plumbing. Patterns are written for lower-cased text.

Choices that differ between labelers, and ours:
- Calcified granulomas and calcified nodules are **not** lung lesions. This follows the
  CheXpert labeler, whose lung-lesion mention list has no "granuloma" and whose un-mention list
  drops "calcified nodul": they are healed, benign sequelae, not the masses/nodules a reader
  must follow up. (In Indiana MeSH they are coded separately as "Calcified Granuloma".)
- Parenchymal scarring/fibrosis is not ``pleural_other``; only pleural thickening, pleural
  scarring/plaques/calcification and fibrothorax are.
- Lung opacity is not inferred from its sub-findings (edema, consolidation, ...): a label means
  the text says it.
"""

from __future__ import annotations

# Finding -> alternation of mention phrases (regex fragments, word-bounded by the compiler).
MENTIONS: dict[str, list[str]] = {
    "cardiomegaly": [
        r"cardiomegaly", r"cardiac enlargement", r"enlarged (?:heart|cardiac silhouette|cardiac shadow)",
        r"enlargement of the (?:heart|cardiac silhouette)", r"heart (?:size )?is (?:(?!not\b)\w+ )?enlarged",
        r"cardiac silhouette is (?:(?!not\b)\w+ )?enlarged", r"heart size is (?:(?!not\b)\w+ )?increased",
    ],
    "enlarged_cardiomediastinum": [
        r"widened mediastinum", r"mediastinal widening", r"widening of the (?:superior )?mediastinum",
        r"enlarged (?:cardio)?mediastin(?:um|al (?:silhouette|contours?))", r"mediastinal enlargement",
        r"mediastinum is (?:(?!not\b)\w+ )?widened", r"mediastinal contours? (?:is|are) (?:(?!not\b)\w+ )?(?:enlarged|widened)",
    ],
    "lung_opacity": [
        r"opacit(?:y|ies)", r"opacification", r"opacified", r"infiltrat(?:e|es|ion|ions|ive)",
        r"air ?space (?:disease|process)", r"densit(?:y|ies)", r"ground[- ]glass",
        r"(?:increased|prominent|coarse) (?:interstitial |lung |bronchovascular )?markings",
        r"reticular (?:\w+ )?(?:pattern|changes?|opacities)",
    ],
    "lung_lesion": [
        r"nodules?", r"nodular (?:densit(?:y|ies)|opacit(?:y|ies)|opacification)", r"masse?s?",
        r"lesions?", r"tumou?rs?", r"neoplasms?", r"carcinoma", r"malignancy", r"metastas[ie]s",
        r"cavitary lesion", r"lump", r"mass[- ]?like", r"(?:lung )?cancer",
    ],
    "edema": [
        r"edema", r"oedema", r"(?:pulmonary |central )?vascular congestion", r"pulmonary congestion",
        r"congestive heart failure", r"chf", r"fluid overload", r"cephalization", r"kerley b",
    ],
    "consolidation": [r"consolidat(?:ion|ions|ive|ed)"],
    "pneumonia": [
        r"pneumonias?", r"bronchopneumonia", r"pneumonitis", r"infectious process", r"infection",
    ],
    "atelectasis": [
        r"atelectas[ie]s", r"atelectatic", r"(?:lobar|lobe|lung) collapse",
        r"collapse of the (?:\w+ )*?(?:lobe|lung)",
    ],
    "pneumothorax": [r"pneumothora(?:x|ces)", r"hydropneumothorax", r"ptx"],
    "pleural_effusion": [
        r"effusions?", r"pleural fluid", r"hydrothorax", r"hydropneumothorax",
        r"blunting of the (?:\w+ )*?(?:costophrenic|cp) (?:angles?|sulcus|sulci)",
        r"(?:costophrenic|cp) (?:angles?|sulcus|sulci) (?:is |are )?blunt(?:ed|ing)",
        r"blunted (?:\w+ )?(?:costophrenic|cp) (?:angles?|sulcus|sulci)", r"costophrenic blunting",
    ],
    "pleural_other": [
        r"pleural thickening", r"thickening of the (?:\w+ )*?pleura", r"pleural (?:scarring|scars?|plaques?|calcifications?)",
        r"pleural[- ]parenchymal scarring", r"pleuroparenchymal scarring", r"fibrothorax", r"apical (?:pleural )?capping",
    ],
    "fracture": [r"fractures?", r"fractured", r"fx"],
    "support_devices": [
        r"pacemakers?", r"pacer", r"aicd", r"defibrillator", r"(?:pacemaker |pacer )?leads",
        r"sternotomy(?: wires| sutures)?", r"sternal wires", r"(?:cabg|surgical|vascular) clips", r"clips",
        r"(?:picc|central(?: venous)?|venous|ij|internal jugular|subclavian|dialysis|arterial|swan[- ]ganz|midline|iv) (?:lines?|catheters?)",
        r"lines?", r"catheters?", r"tubes?", r"tracheostomy", r"port(?:[- ]a[- ]cath|acath)?", r"mediport",
        r"stents?", r"drains?", r"shunt", r"(?:valve|valvular) (?:replacement|prosthesis)", r"prosthetic valve",
        r"hardware", r"loop recorder", r"ivc filter", r"staples", r"electrodes?", r"icd", r"(?:neuro)?stimulator",
        r"prosthes[ie]s", r"(?:closure|cardiac|electronic|implanted|medical) devices?",
    ],
}

# Phrases that look like a mention but are not one (matched spans are blanked before mention search).
UNMENTIONS: dict[str, list[str]] = {
    "lung_lesion": [
        r"calcified (?:\w+ )?(?:nodules?|granulomas?|lesions?)", r"granulomas?", r"massive", r"(?:osseous|bony|bone|lytic|sclerotic|blastic|skin|cutaneous) lesions?",
        r"soft tissue (?:masses|mass|nodules?)",
    ],
    "lung_opacity": [r"pleural scar\w*", r"(?:bone|osseous|soft tissue|breast) densit(?:y|ies)", r"calcified (?:\w+ )?densit(?:y|ies)", r"nodular (?:densit(?:y|ies)|opacit(?:y|ies))"],
    "pleural_effusion": [r"pericardial effusions?", r"joint effusions?"],
    "edema": [r"soft tissue edema", r"subcutaneous edema"],
    "pneumonia": [r"granulomatous (?:\w+ )?infection"],
    "support_devices": [
        r"(?:mid|pleural|skin|septal|kerley b|fissure|azygoesophageal|paraspinal|paratracheal|junction|fold) lines?",
        r"line of", r"lines? (?:of|are|is) (?:sight|the)", r"b[- ]lines?", r"lung lines?", r"(?:eustachian) tubes?",
    ],
}

# Anatomy whose state an adjective decides: "heart size is normal" -> absent,
# "the cardiomediastinal silhouette is enlarged" -> present.
ANATOMY: dict[str, str] = {
    "cardiomegaly": r"heart(?: size)?|cardiac (?:silhouette|size|contours?|shadow)|cardiomediastinal (?:silhouette|contours?)",
    "enlarged_cardiomediastinum": r"mediastinum|mediastinal (?:contours?|silhouette|width)|cardiomediastinal (?:silhouette|contours?)",
}
# "Upper limits of normal" is still normal (Indiana MeSH codes it as normal); "borderline" is not.
ANATOMY_BORDERLINE = r"borderline|mildly prominent|prominent"
ANATOMY_NORMAL = (
    r"upper limits? of normal|top normal|top of normal|upper normal|within normal limits|normal|unremarkable"
    r"|not (?:\w+ )?(?:enlarged|widened)|stable in size"
)
ANATOMY_ENLARGED = r"enlarged|enlargement|widened|widening|increased|large"

# Negation cues (before the mention, within its clause).
PRE_NEGATION = [
    r"no", r"not", r"without", r"negative for", r"free of", r"clear of", r"absence of", r"absent",
    r"resolved", r"resolution of", r"rather than", r"removal of", r"removed", r"never", r"nor",
    r"no (?:\w+ )?(?:evidence|signs?|findings?) of", r"no longer", r"clear",
]
# Negation cues after the mention, within its clause: "the effusion has resolved".
POST_NEGATION = [
    r"(?:is|are|was|were|has|have)?\s*(?:not|no longer) (?:\w+ )?(?:seen|identified|present|visualized|visible|appreciated|evident|demonstrated|detected)",
    r"(?:has|have)?\s*(?:\w+ )?resolved", r"(?:is|are|was|were)? ?absent", r"(?:has|have) been removed", r"removed",
]
# A negation word followed by these is not negating the finding: "no change in cardiomegaly".
NEGATION_EXCEPTIONS = (
    r"(?:no|not|without) (?:\w+ )?(?:\w+ )?(?:change|increase|increased|worsening|progression|enlargement|improvement|difference)",
    r"not (?:\w+ )?changed", r"not only", r"no longer (?:requires|needs)",
)
# Uncertainty that outranks negation ("cannot exclude" contains a negation word).
PRE_NEGATION_UNCERTAINTY = [
    r"cannot (?:be )?(?:excluded?|ruled? out)", r"can ?not (?:be )?(?:excluded?|ruled? out)", r"not (?:be )?excluded",
    r"not (?:be )?ruled out", r"(?:could|may) not (?:be )?(?:excluded?|ruled? out)", r"no (?:\w+ )?(?:evidence|signs?) to rule out",
    r"not (?:entirely |completely )?(?:excluded|ruled out)", r"difficult to exclude",
]
# Uncertainty cues before the mention within its clause.
PRE_UNCERTAINTY = [
    r"may", r"might", r"could", r"possible", r"possibly", r"probable", r"probably", r"likely", r"unlikely",
    r"suggests?", r"suggestive of", r"suggesting", r"questionable", r"question of", r"versus", r"vs", r"concerning for",
    r"concern for", r"suspicious(?: for)?", r"suspected", r"suspect", r"borderline", r"equivocal", r"indeterminate",
    r"consider(?:ed)?", r"differential(?: diagnosis)?(?: includes)?", r"worrisome for", r"atypical",
    r"cannot (?:be )?(?:excluded?|ruled? out)", r"rule out", r"r/o", r"\?",
]
# Uncertainty cues after the mention within its clause: "atelectasis versus pneumonia", "pneumonia?".
POST_UNCERTAINTY = [
    r"versus", r"vs", r"\?", r"(?:is|are) (?:not excluded|suspected|possible|questioned|likely|probable)",
    r"(?:cannot|can not|could not|not) (?:be )?(?:excluded|ruled out)", r"is (?:a )?consideration", r"(?:may|might|could) be present",
    r"or (?:\w+ )?(?:atelectasis|pneumonia|infiltrate|consolidation|scarring|effusion|edema)",
]
# What ends a negation/uncertainty scope inside a sentence.
# One regex, factored by first character: it runs over every sentence, so it must be cheap.
CLAUSE_BREAK = (
    r"[;:]|,? (?:and )?(?:there|this|it) (?:is|are|has|have)\b"
    r"|\b(?:but|however|although|though|except|apart from|aside from|which|with the exception of|whereas|while)\b"
)

# Cheap substring pre-checks: a finding's patterns run only on text containing one of these
# (every mention and anatomy phrase of the finding contains one). Most reports mention few
# findings, so this skips most regex scans. Extend together with MENTIONS/ANATOMY.
TRIGGERS: dict[str, tuple[str, ...]] = {
    "cardiomegaly": ("cardi", "heart"),
    "enlarged_cardiomediastinum": ("mediastin",),
    "lung_opacity": ("opaci", "infiltrat", "air", "densit", "ground", "markings", "reticular"),
    "lung_lesion": ("nodul", "mass", "lesion", "tumo", "neoplasm", "carcinoma", "malignan", "metasta", "lump", "cancer"),
    "edema": ("edema", "oedema", "congesti", "chf", "overload", "cephaliz", "kerley"),
    "consolidation": ("consolidat",),
    "pneumonia": ("pneumon", "infecti"),
    "atelectasis": ("atelecta", "collapse"),
    "pneumothorax": ("pneumothora", "ptx"),
    "pleural_effusion": ("effusion", "fluid", "hydrothorax", "hydropneumothorax", "blunt"),
    "pleural_other": ("pleura", "fibrothorax", "capping"),
    "fracture": ("fractur", "fx"),
    "support_devices": (
        "pace", "aicd", "defib", "lead", "sternotomy", "sternal", "clip", "line", "cathet", "tube", "trache",
        "port", "stent", "drain", "shunt", "valve", "hardware", "recorder", "filter", "staple", "electrode",
        "icd", "stimulator", "prosthes", "device",
    ),
}
