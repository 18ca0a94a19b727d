"""De-identification of a batch of documents as a service (``sagehealth deid``): a data team's export step.

Input is JSON lines ``{"id", "text"[, "patient_key"]}``; output the same ids with de-identified
text and the count of each identifier type masked. A bad line stops the job naming the line
and field, never its value, and nothing is written: the output file appears only complete.
The job is one audit event with counts, never text.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

from core.errors import SageError
from policies.audit import AuditEvent
from policies.deid import DeidOptions
from policies.deid_batch import DeidDocument, deidentify_documents, parse_document
from services.base import Caller, RequestError, ServiceRequest, governed
from tools.resources import Resources

MAX_FILE_BYTES = 512 * 1024 * 1024
HINT = "use a role the policy pack allows to export de-identified data (e.g. --role data_engineer --purpose operations)"


class DeidRequest(ServiceRequest):
    """Files and options of one de-identification job."""

    in_path: Path
    out_path: Path
    pseudonymize: bool = False
    shift_dates: bool = False
    secret_file: Path | None = Field(None, description="File holding the key for pseudonyms and date shifts (keep it outside SAGE_HOME).")
    batch_size: int = Field(32, ge=1, le=512)


class DeidSummary(BaseModel):
    """What the job did."""

    out: str
    documents: int
    masked: dict[str, int] = Field(description="Identifiers masked, per type.")


def _read(path: Path) -> list[DeidDocument]:
    if not path.is_file():
        raise RequestError(f"input file {path} does not exist", hint='pass a JSON-lines file: one {"id", "text"} object per line')
    if path.stat().st_size > MAX_FILE_BYTES:
        raise RequestError(f"input file {path} is over {MAX_FILE_BYTES // 2**20} MiB", hint="split it into smaller files")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise RequestError(f"input file {path} is not UTF-8 text (byte {exc.start})", hint="save the file as UTF-8") from None
    docs = [parse_document(line, number) for number, line in enumerate(lines, 1) if line.strip()]
    if not docs:
        raise RequestError(f"input file {path} has no document", hint='one {"id", "text"} object per line')
    return docs


def _options(request: DeidRequest) -> DeidOptions:
    secret = None
    if request.secret_file is not None:
        try:
            secret = SecretStr(request.secret_file.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise RequestError(f"cannot read the secret file {request.secret_file}: {exc.strerror}", hint="check the path and its permissions") from None
    try:
        return DeidOptions(pseudonymize=request.pseudonymize, shift_dates=request.shift_dates, secret=secret)
    except ValueError as exc:
        raise RequestError("pseudonyms and date shifts need --secret-file with a key of at least 16 characters", hint="create one outside SAGE_HOME") from exc


def deidentify(resources: Resources, caller: Caller, request: DeidRequest, progress: Callable[[int], None] | None = None) -> DeidSummary:
    """De-identify every document of ``in_path`` into ``out_path`` (written atomically)."""
    docs, options = _read(request.in_path), _options(request)
    masked: Counter[str] = Counter()
    with governed(resources, caller, "deid", "deid", resource=request.in_path.name[:128], details={"documents": len(docs)}, hint=HINT, audit=False):
        request.out_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{request.out_path.name}-", dir=request.out_path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                for result in deidentify_documents(docs, options, redactor=resources.redactor, batch_size=request.batch_size):
                    out.write(result.model_dump_json(exclude={"entities"}) + "\n")
                    masked.update(result.counts)
                    if progress is not None:
                        progress(1)
            os.replace(tmp, request.out_path)
        except (OSError, SageError):
            resources.audit.append(AuditEvent(actor=caller.user, action="deid", resource=request.in_path.name[:128], decision="failed", details={"documents": len(docs)}))
            raise
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    details = {"role": caller.role, "purpose": caller.purpose, "documents": len(docs), "masked": dict(masked), "pseudonymize": request.pseudonymize, "shift_dates": request.shift_dates}
    resources.audit.append(AuditEvent(actor=caller.user, action="deid", resource=request.in_path.name[:128], decision="ok", details=details))
    return DeidSummary(out=str(request.out_path), documents=len(docs), masked=dict(sorted(masked.items())))
