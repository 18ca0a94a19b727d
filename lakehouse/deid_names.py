"""What the raw tier tells the redactor: the names and places of the patients, and the clinical vocabulary.

The system knows who its patients are, so their names, street lines and cities are masked by
lookup (:class:`policies.deid_known.KnownIdentityRecognizer`) and not only when spaCy happens to
recognise them. The lakehouse's own clinical words (labeler phrases, comorbidities, drugs and
labs of the synthetic catalogues) go the other way, into the allow-list. ``policies`` may not
import ``lakehouse``, so this module reads them and a caller passes them to
:class:`policies.deid.Redactor`::

    identities = known_identities(settings)
    redactor = Redactor(known_names=identities.names, known_places=identities.places,
                        allow_terms=clinical_vocabulary())
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:
    from core.settings import Settings


class KnownIdentities(BaseModel):
    """Names ("Family, Given") and places (street line, city) of every patient in the raw tier."""

    names: list[str]
    places: list[str]


def known_identities(settings: Settings) -> KnownIdentities:
    """Read the raw ``patients`` table (latest version); empty when nothing is ingested yet."""
    from lakehouse.raw.store import RawStore

    store = RawStore(settings)
    if not store.exists("patients"):
        return KnownIdentities(names=[], places=[])
    table = store.scan("patients").select(["given_name", "family_name", "address"]).to_pylist()
    names = sorted({f"{r['family_name']}, {r['given_name']}" for r in table if r["family_name"] and r["given_name"]})
    places: set[str] = set()
    for row in table:
        # address is "street, city, ST 12345": the street line and the city are identifying, the state is not.
        parts = [p.strip() for p in (row["address"] or "").split(",")]
        places.update(p for p in parts[:2] if p)
    return KnownIdentities(names=names, places=sorted(places))


def clinical_vocabulary() -> list[str]:
    """Phrases of the lakehouse's clinical vocabulary (labeler mentions, comorbidities, drugs, labs)."""
    from lakehouse.labeler.vocabulary import MENTIONS
    from lakehouse.synth.clinical import COMORBIDITIES, DRUGS, LABS

    phrases = [p for patterns in MENTIONS.values() for p in patterns]
    phrases += [desc for _, desc in COMORBIDITIES.values()] + list(DRUGS) + [lab.name for lab in LABS.values()]
    return phrases
