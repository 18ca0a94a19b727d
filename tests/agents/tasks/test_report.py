from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from agents.tasks.base import get_task
from agents.tasks.report import SPEC, ReportInput, clean_impression
from core.settings import Settings
from models.image import InvalidImageError
from tests.homes import copy_home

FINDINGS = "The heart is enlarged. There is a small left pleural effusion. No pneumothorax."


def run(direct, task: ReportInput):  # noqa: ANN001, ANN201
    evidence = SPEC.retrieve(direct, task)
    return evidence, SPEC.compose(direct, task, evidence, SPEC.generate(direct, task, evidence))  # type: ignore[misc]


def test_registered() -> None:
    assert get_task("report") is SPEC


def test_clean_impression() -> None:
    assert clean_impression("Impression: Cardiomegaly.\n\nFindings: blah") == "Cardiomegaly."
    assert clean_impression(" No acute disease. [2] Findings: x") == "No acute disease."
    assert clean_impression("[1] Findings: Lungs clear.\n    Impression: No acute disease.\n[2] Findings: y") == "No acute disease."
    assert clean_impression("[1] Findings: Heart size normal. Lungs clear.") == "Heart size normal. Lungs clear."
    assert clean_impression("1. Chest X-ray Report:\n\nNo acute cardiopulmonary abnormality.") == "No acute cardiopulmonary abnormality."
    assert clean_impression("**Impression:** Small left effusion.") == "Small left effusion."
    assert clean_impression("Small left effusion: likely reactive.") == "Small left effusion: likely reactive."


def test_rag_edits_a_label_matched_case_without_the_model(direct, small_lakehouse) -> None:  # noqa: ANN001
    from agents.tasks.report_edit import abnormal_positives
    from lakehouse.semantic import open_store

    store = open_store(small_lakehouse)
    case = next(p for p in store.scroll(limit=300) if "cardiomegaly" in p.payload.get("positive_findings", []) and p.payload.get("findings"))
    evidence, draft = run(direct, ReportInput(findings=case.payload["findings"], case_id=case.case_id))
    cited = [c.case_id for c in draft.citations]
    assert len(cited) == 3 and case.case_id not in cited and cited[0] == evidence["edit"]["base_case_id"]
    assert "generate_text" not in [n for n, _ in direct.calls]  # retrieve-then-edit: no model call
    candidates = [a for n, a in direct.calls if n == "retrieve_similar_cases" and a.get("strategy") == "text"]
    assert candidates and candidates[0]["required_findings"].get("cardiomegaly") == "present"
    # The draft states exactly the findings the editor targeted, and cardiomegaly is always stated.
    assert abnormal_positives(draft.impression) == set(evidence["edit"]["target"]) - {"no_finding"}
    assert "cardiomegaly" in evidence["edit"]["target"] and draft.model == "retrieve-edit-v3"
    assert not any("names findings" in r for r in draft.review_reasons)


def test_rag_lm_cites_real_cases_and_excludes_the_query(direct, small_lakehouse) -> None:  # noqa: ANN001
    from lakehouse.semantic import open_store

    store = open_store(small_lakehouse)
    case = next(p for p in store.scroll(limit=300) if "cardiomegaly" in p.payload.get("positive_findings", []) and p.payload.get("findings"))
    task = ReportInput(findings=case.payload["findings"], case_id=case.case_id, max_new_tokens=16, mode="rag-lm")
    evidence, draft = run(direct, task)
    cited = [c.case_id for c in draft.citations]
    assert len(cited) == 3 and case.case_id not in cited
    assert {p.case_id for p in store.retrieve(cited)} == set(cited)  # every citation is a stored case
    assert draft.query_labels.get("cardiomegaly") == "present"
    assert draft.model and draft.mode == "rag-lm"
    prompt = next(args for name, args in direct.calls if name == "generate_text")["messages"][1]["content"]
    assert "Similar prior cases" in prompt and evidence["hits"][0]["impression"] in prompt
    assert draft.needs_review == bool(draft.review_reasons)


def test_modes(direct) -> None:  # noqa: ANN001
    _, only = run(direct, ReportInput(findings=FINDINGS, mode="retrieval-only"))
    assert only.model is None and only.citations
    nearest = direct.call_tool("retrieve_similar_cases", {"findings": FINDINGS, "k": 3, "mode": "retrieval-only", "exclude_ids": []}).hits[0]
    assert only.impression == nearest.impression and only.citations[0].case_id == nearest.case_id
    direct.calls.clear()
    _, plain = run(direct, ReportInput(findings=FINDINGS, mode="no-rag", max_new_tokens=12))
    assert plain.citations == [] and "retrieve_similar_cases" not in [n for n, _ in direct.calls]


def test_uncertain_findings_need_review(direct) -> None:  # noqa: ANN001
    _, draft = run(direct, ReportInput(findings="Possible right lower lobe pneumonia. Heart size normal.", mode="retrieval-only"))
    assert draft.needs_review and any("uncertain" in r for r in draft.review_reasons)


def test_bad_inputs_are_clear_errors(direct, tmp_path: Path) -> None:  # noqa: ANN001
    with pytest.raises(ValidationError, match="findings is empty"):
        ReportInput(findings="   ")
    with pytest.raises(ValidationError, match="more than 5000"):
        ReportInput(findings="x" * 5001)
    with pytest.raises(ValidationError):
        ReportInput(findings=FINDINGS, mode="summarise")
    bogus = tmp_path / "study.png"
    bogus.write_text("not an image")
    with pytest.raises(InvalidImageError, match="study.png"):
        SPEC.retrieve(direct, ReportInput(findings=FINDINGS, image_path=str(bogus)))


def test_image_path_adds_an_image_vector(direct, tmp_path: Path) -> None:  # noqa: ANN001
    png = tmp_path / "cxr.png"
    Image.new("L", (128, 128), 90).save(png)
    evidence = SPEC.retrieve(direct, ReportInput(findings=FINDINGS, image_path=str(png), mode="retrieval-only"))
    args = next(a for n, a in direct.calls if n == "retrieve_similar_cases")
    assert len(args["image_vector"]) == 512 and evidence["hits"]


def _study(seed: int, heart: int, path: Path) -> Path:
    """A drawn frontal chest film: dark lungs, bright heart of a given width, seeded noise."""
    from PIL import ImageDraw

    img = Image.new("L", (160, 160), 200)
    draw = ImageDraw.Draw(img)
    draw.ellipse((20, 25, 75, 140), fill=40)
    draw.ellipse((85, 25, 140, 140), fill=40)
    draw.ellipse((80 - heart // 3, 85, 80 + heart, 85 + heart // 2), fill=220)
    noisy = np.asarray(img, dtype=np.float64) + np.random.default_rng(seed).normal(0, 8, (160, 160))
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path)
    return path


def test_report_with_image_path_cites_the_image_similar_case(small_lakehouse, tmp_path: Path) -> None:  # noqa: ANN001
    """Governed run: the study image is embedded by the configured encoder and its own case is cited by image."""

    from lakehouse.ingest.images import ingest_images
    from lakehouse.semantic import SearchFilter, open_store
    from services.base import Caller
    from services.runs import RunRequest, run_task
    from tools.resources import Resources

    home = tmp_path / "home"
    copy_home(small_lakehouse.home, home)
    settings = Settings(home=home, telemetry_exporter="none")
    store = open_store(settings)
    normal = [p.case_id for p in store.scroll(SearchFilter(split="train"), limit=300) if not p.payload.get("positive_findings")][:3]
    folder = tmp_path / "cxr"
    folder.mkdir()
    studies = {case: _study(i, 30 + 20 * i, folder / f"{case}_IM-0001-1001.png") for i, case in enumerate(normal)}
    assert ingest_images(settings, folder).points_upserted == 3

    query = normal[1]
    resources, clinician = Resources.for_settings(settings), Caller(user="dr-a", role="clinician", purpose="treatment")
    result = run_task(resources, clinician, RunRequest(task="report", input={"findings": FINDINGS, "image_path": str(studies[query]), "mode": "retrieval-only"}))
    assert result.status in {"done", "review"}, result.error
    citations = result.output["citations"]
    by_image = [c for c in citations if c["basis"] == "image"]
    assert by_image[0]["case_id"] == query and by_image[0]["similarity"] == pytest.approx(1.0, abs=1e-3)
    assert {c["case_id"] for c in by_image} <= set(normal)  # only cases with an image vector
    cited = [c["case_id"] for c in citations]
    assert len(cited) == len(set(cited)) and set(cited) <= set(result.evidence_ids)
    assert {p.case_id for p in store.retrieve(cited)} == set(cited)  # every citation is a stored case
    assert not result.review or not any("not in the evidence" in r for r in result.review["reasons"])

    bogus = tmp_path / "study.png"
    bogus.write_text("not an image")
    failed = run_task(resources, clinician, RunRequest(task="report", input={"findings": FINDINGS, "image_path": str(bogus), "mode": "retrieval-only"}))
    assert failed.status == "failed" and failed.error["type"] == "InvalidImageError" and "study.png" in failed.error["message"]
    assert not {c["tool"] for c in failed.tool_calls} & {"retrieve_similar_cases", "label_findings"}  # failed before any data access
