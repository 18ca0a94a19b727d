"""Fingerprints for audit and error paths: SQL keeps its shape, never its literals; errors keep their type."""

from __future__ import annotations

import pytest

from policies.redact import error_record, fingerprint, fingerprint_sql, redact_details, sql_fingerprint


def test_sql_literals_and_comments_never_kept() -> None:
    fp = sql_fingerprint("SELECT given_name, birth_date FROM patients WHERE mrn = 'MRN0012345' AND age > 89 -- asked by John Smith")
    assert fp.parsed and fp.literals == 2
    assert fp.shape == "SELECT given_name, birth_date FROM patients WHERE mrn = ? AND age > ?"
    text = fingerprint_sql("SELECT * FROM patients /* Jane Roe */ WHERE family_name = 'Roe'")
    assert "Roe" not in text and "Jane" not in text and text.startswith("sha256:") and text.endswith("WHERE family_name = ?")


def test_same_shape_same_hash_so_a_guess_cannot_be_confirmed() -> None:
    a = sql_fingerprint("SELECT * FROM patients WHERE mrn = 'MRN0000001'")
    b = sql_fingerprint("select *  from patients where mrn='MRN9999999'")
    assert a.hash == b.hash and a.shape == b.shape
    assert a.hash != sql_fingerprint("SELECT * FROM reports WHERE report_id = 'x'").hash


def test_sql_without_literals_keeps_its_text() -> None:
    assert fingerprint_sql("SELECT COUNT(*) FROM reports").endswith(" SELECT COUNT(*) FROM reports")


def test_columns_regex_and_quoted_names_are_scrubbed() -> None:
    text = fingerprint_sql("SELECT COLUMNS('mrn|given_name') FROM patients WHERE family_name = \"Smith\"")
    assert "Smith" not in text and "given_name'" not in text and "COLUMNS(?)" in text


@pytest.mark.parametrize("sql", ["SELEC given_name FROM WHERE 'John Smith", "SELECT 'O''Brien' FROM (", "DROP 12345 $$Jane$$"])
def test_unparsable_sql_is_scrubbed_conservatively(sql: str) -> None:
    fp = sql_fingerprint(sql)
    assert not fp.parsed or fp.literals
    for secret in ("John", "Smith", "Brien", "12345", "Jane"):
        assert secret not in fp.shape


def test_long_sql_is_truncated_under_the_audit_limit() -> None:
    text = fingerprint_sql("SELECT " + ", ".join(f"col_{i}" for i in range(200)) + " FROM reports")
    assert len(text) <= 230 and text.endswith("…")


def test_error_record_never_holds_the_message() -> None:
    try:
        try:
            {}["MRN0012345"]
        except KeyError as inner:
            raise ValueError("patient John Smith not found") from inner
    except ValueError as exc:
        record = error_record(exc)
    assert record == {"type": "ValueError", "module": "builtins", "fingerprint": fingerprint("patient John Smith not found"), "cause_type": "KeyError"}


def test_redact_details_is_recursive_and_idempotent() -> None:
    raw = {"ids": ["CXR1"], "error": "John Smith", "nested": [{"note": "call 555-0100"}], "sql": "SELECT 1", "rows": 3, "exc": RuntimeError("Jane")}
    once = redact_details(raw)
    assert once["ids"] == ["CXR1"] and once["rows"] == 3 and once["error"] == fingerprint("John Smith")
    assert once["nested"][0]["note"].startswith("sha256:") and once["exc"]["type"] == "RuntimeError" and "Jane" not in str(once)
    assert redact_details(once) == once
