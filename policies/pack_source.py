"""Read a pack file and say exactly where it is wrong: file, line and rule for every problem.

Why lines: a pack is edited by a site's governance team, not by the developers; "roles.nurse.
max_sensitivity: less than or equal to 5" is only useful with the line it sits on. The file is
parsed twice: once for values (``json``/``yaml.safe_load``, exact semantics) and once as a YAML
node tree (JSON is YAML), which carries line numbers; a pydantic error location
(``("roles", "nurse", "max_sensitivity")``) is mapped to the deepest node that exists. The node
pass also catches duplicate keys, which both parsers otherwise resolve silently (last wins).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from policies.packs import PackRuleError, PolicyPack, PolicyPackError, resolve_pack

Loc = tuple[str | int, ...]


class PackIssue(BaseModel):
    """One problem in a pack file."""

    file: str
    line: int | None = Field(description="1-based line of the offending key or value (None when the file could not be read).")
    rule: str = Field(description="Dotted path of the rule, e.g. 'roles.nurse.max_sensitivity'; 'syntax' for parse errors.")
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line if self.line is not None else '?'}: {self.rule}: {self.message}"


class PackCheckReport(BaseModel):
    """What ``sagehealth policy check FILE`` prints: validity, identity of the pack and every issue."""

    ok: bool
    file: str
    sha256: str | None = Field(default=None, description="Of the file bytes: which exact pack was checked.")
    name: str | None = None
    version: str | None = None
    roles: list[str] = Field(default_factory=list)
    purposes: list[str] = Field(default_factory=list)
    identifiers: list[str] = Field(default_factory=list)
    issues: list[PackIssue] = Field(default_factory=list)


def _walk(node: yaml.Node, path: Loc, lines: dict[Loc, int], dupes: list[tuple[Loc, int]]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                dupes.append(((*path, key), key_node.start_mark.line + 1))
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, dupes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _walk(item, (*path, i), lines, dupes)


def _positions(text: str) -> tuple[dict[Loc, int], list[tuple[Loc, int]]]:
    lines: dict[Loc, int] = {(): 1}
    dupes: list[tuple[Loc, int]] = []
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines, dupes  # values parsed (JSON), positions unknown: errors fall back to line 1
    if root is not None:
        _walk(root, (), lines, dupes)
    return lines, dupes


def _line(loc: Loc, lines: dict[Loc, int]) -> int:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


def _rule(loc: Loc) -> str:
    return ".".join(str(p) for p in loc) or "(pack)"


def _parse(path: Path, text: str) -> tuple[Any, list[PackIssue]]:
    try:
        if path.suffix == ".json":
            return json.loads(text), []
        return yaml.safe_load(text), []
    except json.JSONDecodeError as exc:
        return None, [PackIssue(file=str(path), line=exc.lineno, rule="syntax", message=f"invalid JSON: {exc.msg} (column {exc.colno})")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [PackIssue(file=str(path), line=mark.line + 1 if mark else None, rule="syntax", message=f"invalid YAML: {problem}")]


def _validate(path: Path, data: Any, lines: dict[Loc, int]) -> tuple[PolicyPack | None, list[PackIssue]]:
    if not isinstance(data, dict):
        return None, [PackIssue(file=str(path), line=1, rule="(pack)", message=f"a pack is a mapping of rules, not {type(data).__name__}")]
    try:
        return PolicyPack.model_validate(data), []
    except ValidationError as exc:
        issues = []
        for error in exc.errors():
            loc: Loc = tuple(error["loc"])
            cause = (error.get("ctx") or {}).get("error")
            if isinstance(cause, PackRuleError):
                loc, message = (*loc, *cause.loc), str(cause)
            else:
                message = error["msg"]
            issues.append(PackIssue(file=str(path), line=_line(loc, lines), rule=_rule(loc), message=message))
        return None, issues


def inspect_pack(path: Path) -> tuple[PolicyPack | None, PackCheckReport]:
    """Parse and validate one pack file; the pack (or None) and the full report."""
    report = PackCheckReport(ok=False, file=str(path))
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        report.issues.append(PackIssue(file=str(path), line=None, rule="file", message=f"cannot read the pack as UTF-8 text: {exc}"))
        return None, report
    report.sha256 = hashlib.sha256(raw).hexdigest()
    data, issues = _parse(path, text)
    if issues:
        report.issues = issues
        return None, report
    lines, dupes = _positions(text)
    report.issues = [PackIssue(file=str(path), line=line, rule=_rule(loc), message="duplicate key: the earlier value would be silently replaced") for loc, line in dupes]
    pack, problems = _validate(path, data, lines)
    report.issues += problems
    if pack is None or report.issues:
        return None, report
    report.ok, report.name, report.version = True, pack.name, pack.version
    report.roles, report.purposes, report.identifiers = sorted(pack.roles), sorted(pack.purposes), sorted(pack.identifiers)
    return pack, report


def check_pack(name_or_path: str | Path) -> PackCheckReport:
    """Validate a pack (shipped name or file) without activating it; never raises."""
    try:
        path = resolve_pack(name_or_path)
    except PolicyPackError as exc:
        return PackCheckReport(ok=False, file=str(name_or_path), issues=[PackIssue(file=str(name_or_path), line=None, rule="file", message=exc.message)])
    return inspect_pack(path)[1]


def read_pack(path: Path) -> PolicyPack:
    """The validated pack in ``path``.

    Raises:
        PolicyPackError: the first issue as ``file:line: rule: message`` (all issues in the hint).
    """
    pack, report = inspect_pack(path)
    if pack is None:
        first = report.issues[0]
        more = "; ".join(str(i) for i in report.issues[1:4])
        raise PolicyPackError(f"invalid policy pack {first}", hint=f"also: {more}" if more else "fix the named rule; `sagehealth policy check FILE` lists every issue")
    return pack
