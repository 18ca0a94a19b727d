"""The project's synthetic de-identification set: documents of the lakehouse's own patients, every PHI span recorded.

One patient per Indiana report (the same seeded patients ``sagehealth ingest`` writes), two
documents per patient in styles drawn from :data:`lakehouse.synth.deid_styles.STYLES`. Patients,
not documents, are split into ``dev`` and ``test`` halves (hash of seed and patient id), so no
name tuned on in dev appears in test. Rules are tuned on dev only; the figures are on test.

Usage::

    from lakehouse.synth.deid_set import generate_deid_set
    data = generate_deid_set(limit=400, seed=7)
    test = [e for e in data.examples if e.split == "test"]
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Iterator
from typing import Literal

from pydantic import BaseModel

from lakehouse.synth.deid_facts import PatientFacts, patient_facts
from lakehouse.synth.deid_styles import STYLES, DocWriter, Span

DEFAULT_SEED = 7
DEFAULT_SITE = "site-a"
Split = Literal["dev", "test"]


class DeidExample(BaseModel):
    """One generated document with its PHI and clinical-content spans."""

    id: str
    patient_key: str
    style: str
    split: Split
    text: str
    phi: list[Span]
    clinical: list[Span]


def split_of(patient_id: str, seed: int) -> Split:
    """``test`` for half of the patients, fixed by (seed, patient)."""
    return "test" if hashlib.sha256(f"deid-split|{seed}|{patient_id}".encode()).digest()[0] % 2 else "dev"


def documents_for(facts: PatientFacts, seed: int, per_patient: int = 2) -> Iterator[DeidExample]:
    """``per_patient`` documents of distinct styles for one patient."""
    rng = random.Random(f"deid-doc|{seed}|{facts.patient_id}")
    for style in rng.sample(sorted(STYLES), per_patient):
        writer = DocWriter(rng)
        STYLES[style](writer, facts)
        yield DeidExample(
            id=f"{facts.report_id}-{style}", patient_key=facts.patient_id, style=style, split=split_of(facts.patient_id, seed),
            text=writer.text(), phi=[s for s in writer.spans if s.type != "CLINICAL"],
            clinical=[s for s in writer.spans if s.type == "CLINICAL"])


class DeidSet(BaseModel):
    """The documents, and what the raw tier knows about their patients (the redactor's deny-list)."""

    seed: int
    examples: list[DeidExample]
    known_names: list[str]
    known_places: list[str]


def generate_deid_set(reports: Iterable[object] | None = None, limit: int = 400, seed: int = DEFAULT_SEED,
                      site: str = DEFAULT_SITE, per_patient: int = 2) -> DeidSet:
    """The de-id set for the first ``limit`` shipped Indiana reports (or the given ``IndianaReport`` objects).

    ``known_names``/``known_places`` hold exactly what the raw ``patients`` table holds for these
    patients (``family_name, given_name``; the address's street line and city), not the relatives
    or clinicians the documents also name: those must be found without a list.
    """
    if reports is None:
        from lakehouse.ingest.indiana import read_indiana

        reports = read_indiana(limit=limit)
    examples: list[DeidExample] = []
    names: list[str] = []
    places: list[str] = []
    for report in reports:
        facts = patient_facts(report, seed, site)
        names.append(f"{facts.family}, {facts.given}")
        places += [facts.street, facts.city]
        examples += documents_for(facts, seed, per_patient)
    return DeidSet(seed=seed, examples=examples, known_names=names, known_places=places)
