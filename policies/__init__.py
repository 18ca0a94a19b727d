"""Governance: policy packs, the policy engine, the hash-chained audit log (PHI tools in policies.phi*)."""
