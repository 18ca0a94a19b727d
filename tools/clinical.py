"""Clinical knowledge tools: ``label_findings`` and ``check_interactions`` (both read-only).

There is deliberately no label-writing tool: a label change is a clinician's correction, which
only the feedback loop records (``services.feedback`` -> ``lakehouse.feedback``: governed, a new
label version, propagation per the pack, audit). An agent or chat turn that meets a correction
hands it over to that loop (the chat ``feedback`` task), it never writes labels itself.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from lakehouse.findings import FindingState, positive_findings
from lakehouse.knowledge.interactions import Interaction
from tools.base import Provenance, ToolDefinition, ToolDeps, ToolResult, register_tool


class LabelArgs(BaseModel):
    """Arguments of ``label_findings``."""

    text: str = Field(min_length=1, max_length=8000, description="Radiology report text (findings and/or impression) to label with the 14 CheXpert findings.")


class FindingLabels(ToolResult):
    """Finding -> present/absent/uncertain, read off the text."""

    labels: dict[str, FindingState]
    positive: list[str]
    uncertain: list[str]


def label_findings(deps: ToolDeps, args: LabelArgs) -> FindingLabels:
    """Run the project's rule labeler (negation and uncertainty aware)."""
    from lakehouse.labeler import label_text

    raw = label_text(args.text)
    labels: dict[str, FindingState] = dict(getattr(raw, "labels", raw))
    uncertain = [k for k, v in labels.items() if v == "uncertain"]
    return FindingLabels(labels=labels, positive=positive_findings(labels), uncertain=uncertain, provenance=Provenance(source="labeler:rules"))


class InteractionArgs(BaseModel):
    """Arguments of ``check_interactions``."""

    current: list[str] = Field(default_factory=list, max_length=100, description="Drugs the patient takes now (generic names, e.g. 'warfarin').")
    proposed: str = Field(min_length=2, max_length=100, description="Drug being considered (generic or brand name, e.g. 'clarithromycin').")


class Interactions(ToolResult):
    """Known interacting pairs with severity and source."""

    interactions: list[Interaction]


def check_interactions(deps: ToolDeps, args: InteractionArgs) -> Interactions:
    """Look each pair up in the curated table plus the site's imported ones (each pair cites its source)."""
    from lakehouse.knowledge.interactions import InteractionTable

    table = InteractionTable.for_site(deps.settings.interactions_dir)
    # No current drugs (a drug question without a patient): every listed partner of the proposed drug.
    found = table.check(args.current, args.proposed) if args.current else table.partners(args.proposed)
    ids = [f"{i.drug_a}+{i.drug_b}" for i in found]
    return Interactions(interactions=found, provenance=Provenance(source="knowledge:interactions", ids=ids))


register_tool(ToolDefinition(name="label_findings", description="Label a report text with the 14 CheXpert findings (present/absent/uncertain).", args_model=LabelArgs, result_model=FindingLabels, run=label_findings))
register_tool(ToolDefinition(name="check_interactions", description="Check a proposed drug against current ones for known interactions (no current drugs: all its listed interactions).", args_model=InteractionArgs, result_model=Interactions, run=check_interactions))
