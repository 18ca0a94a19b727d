"""Clinical knowledge tools: ``label_findings``, ``check_interactions`` and ``update_labels``.

``update_labels`` is the only tool here with a side effect. It is idempotent, so a node that
re-runs after a crash or a resume does not write twice: unchanged labels are skipped, the
raw-tier rows are written before the Qdrant payload (the raw store drops rows whose content
is already there), and the payload update is a merge.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from lakehouse.findings import FindingState, check_finding, positive_findings
from lakehouse.knowledge.interactions import Interaction
from tools.base import Provenance, ToolDefinition, ToolDeps, ToolExecutionError, ToolResult, register_tool


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


class UpdateLabelsArgs(BaseModel):
    """Arguments of ``update_labels``."""

    case_id: str = Field(min_length=1, max_length=64, description="Case (report) id, e.g. 'CXR10'.")
    labels: dict[str, FindingState] = Field(min_length=1, description="Finding key -> present | absent | uncertain.")
    reason: str = Field(min_length=3, max_length=1000, description="Why the labels change (kept in the audit log).")

    @field_validator("labels")
    @classmethod
    def _known_findings(cls, labels: dict[str, FindingState]) -> dict[str, FindingState]:
        return {check_finding(k): v for k, v in labels.items()}


class LabelUpdate(ToolResult):
    """What changed (empty when the labels were already so)."""

    case_id: str
    changed: dict[str, FindingState]
    label_version: int


def update_labels(deps: ToolDeps, args: UpdateLabelsArgs) -> LabelUpdate:
    """Set labels on one case in both tiers, idempotently."""
    from lakehouse.raw.store import RawStore

    store = deps.resources.store
    points = store.retrieve([args.case_id])
    if not points:
        raise ToolExecutionError(f"case {args.case_id!r} is not in the semantic tier", hint="check the id with `sagehealth search`")
    payload = points[0].payload
    current: dict[str, FindingState] = dict(payload.get("labels", {}))
    changed = {k: v for k, v in args.labels.items() if current.get(k) != v}
    version = int(payload.get("label_version", 1))
    if changed:
        version += 1
        rows = [
            {"label_id": f"{args.case_id}:{k}", "report_id": args.case_id, "finding": k, "state": v, "label_version": version, "labeler": f"user:{deps.user}"}
            for k, v in changed.items()
        ]
        RawStore(deps.settings).append("report_labels", rows, source="tool:update_labels", batch_id=deps.run_id or "manual")
        deps.resources.drop("query")  # the cached DuckDB views hold the old snapshot
        merged = {**current, **changed}
        store.set_payload(args.case_id, {"labels": merged, "positive_findings": positive_findings(merged), "label_version": version})
    return LabelUpdate(case_id=args.case_id, changed=changed, label_version=version, provenance=Provenance(source="lakehouse:labels", ids=[args.case_id]))


register_tool(ToolDefinition(name="label_findings", description="Label a report text with the 14 CheXpert findings (present/absent/uncertain).", args_model=LabelArgs, result_model=FindingLabels, run=label_findings))
register_tool(ToolDefinition(name="check_interactions", description="Check a proposed drug against current ones for known interactions (no current drugs: all its listed interactions).", args_model=InteractionArgs, result_model=Interactions, run=check_interactions))
register_tool(ToolDefinition(name="update_labels", description="Correct a case's finding labels (clinician feedback; audited).", args_model=UpdateLabelsArgs, result_model=LabelUpdate, run=update_labels, writes=True))
