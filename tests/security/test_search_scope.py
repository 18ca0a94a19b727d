"""Vector search across roles and sites: the scope's row rules, as Qdrant payload filters, leak nothing.

Real Qdrant Edge shard of the session lakehouse; query vectors are the stored vectors of real
cases (in and out of scope), so the nearest neighbours of an out-of-scope query are out-of-scope
cases unless the filter holds. Every hit is checked against the rule computed independently in
Python from the trusted SQL rows, and the researcher's searchable set equals its SQL row set.
"""

from __future__ import annotations

import pytest
from security_leaks import forbidden_for, leaks

from core.settings import Settings
from lakehouse.access import in_scope, scoped_filter, scoped_hits
from lakehouse.query import QueryEngine
from lakehouse.semantic import open_store
from lakehouse.semantic.base import SearchFilter
from policies.engine import PolicyEngine
from policies.packs import load_pack
from policies.scope import DataScope

CALLERS = [("researcher", "research"), ("clinician", "treatment"), ("radiologist", "treatment"), ("data_engineer", "operations")]
SITES = ["site-a", "site-b"]


@pytest.fixture(scope="module")
def trusted(small_lakehouse: Settings) -> QueryEngine:
    return QueryEngine(small_lakehouse)


@pytest.fixture(scope="module")
def policy() -> PolicyEngine:
    return PolicyEngine(load_pack("default"))


@pytest.fixture(scope="module")
def probes(small_lakehouse: Settings) -> list:
    # Twelve real cases spread over the shard, with their text vectors, as queries.
    store = open_store(small_lakehouse)
    points = store.scroll(limit=1000)
    chosen = points[:: max(1, len(points) // 12)][:12]
    return store.retrieve([p.case_id for p in chosen], with_vectors=True)


@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize(("role", "purpose"), CALLERS)
def test_search_never_returns_out_of_scope_cases(small_lakehouse: Settings, trusted: QueryEngine, policy: PolicyEngine, probes: list, role: str, purpose: str, site: str) -> None:
    scope = DataScope.from_policy(policy, role, purpose, site)
    forbidden = forbidden_for(trusted, site, None if scope.consents is None else set(scope.consents), scope.max_sensitivity, small_lakehouse.site,
                              identifiers_hidden=scope.free_text == "scrub", dates_coarse=False)
    store = open_store(small_lakehouse)
    seen = 0
    for probe in probes:
        # The caller tries to widen the filter: every site, every consent, any sensitivity.
        wide = SearchFilter(sites=SITES + ["site-z"], consents=["research", "treatment-only"], max_sensitivity=5)
        hits = store.search(probe.vectors["text"], using="text", filter=scoped_filter(scope, wide), limit=50)
        seen += len(hits)
        for hit in hits:
            assert hit.case_id in forbidden.allowed_cases, (role, site, hit.case_id, hit.payload.get("site"), hit.payload.get("consent"))
            assert in_scope(hit.payload, scope)
        shown = scoped_hits(hits, scope)
        cells = [[h.case_id, h.payload] for h in shown]
        assert leaks(cells, [], forbidden) == []
    assert seen > 0


@pytest.mark.parametrize("site", SITES)
def test_researcher_search_set_equals_sql_rows(small_lakehouse: Settings, trusted: QueryEngine, policy: PolicyEngine, site: str) -> None:
    scope = DataScope.from_policy(policy, "researcher", "research", site)
    sql_cases = {r[0] for r in trusted.for_caller(scope).sql("SELECT report_id FROM reports", max_rows=100_000).rows}
    store = open_store(small_lakehouse)
    searchable = {p.case_id for p in store.scroll(scoped_filter(scope), limit=100_000)}
    assert searchable == sql_cases and sql_cases
    assert store.count(scoped_filter(scope)) == len(sql_cases)


def test_sites_partition_the_data(small_lakehouse: Settings, trusted: QueryEngine, policy: PolicyEngine) -> None:
    per_site = {s: {r[0] for r in trusted.for_caller(DataScope.from_policy(policy, "clinician", "treatment", s)).sql("SELECT patient_id FROM patients", max_rows=100_000).rows} for s in SITES}
    everyone = {r[0] for r in trusted.sql("SELECT patient_id FROM patients", max_rows=100_000).rows}
    assert per_site["site-a"] and per_site["site-b"]
    assert per_site["site-a"].isdisjoint(per_site["site-b"])
    # Clinicians see every sensitivity level up to 3 (the generator's maximum): the two sites cover everyone.
    assert per_site["site-a"] | per_site["site-b"] == everyone


def test_a_narrowing_filter_cannot_widen(policy: PolicyEngine) -> None:
    scope = DataScope.from_policy(policy, "researcher", "research", "site-a")
    f = scoped_filter(scope, SearchFilter(sites=["site-b"], consents=["treatment-only"], max_sensitivity=3))
    assert f.sites == [] and f.consents == [] and f.max_sensitivity == 1
    g = scoped_filter(scope, SearchFilter(findings={"edema": "present"}, max_sensitivity=0))
    assert g.sites == ["site-a"] and g.consents == ["research"] and g.max_sensitivity == 0 and g.findings == {"edema": "present"}
