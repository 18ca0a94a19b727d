"""Small clinical knowledge base: ICD-10 codes, drug names, drug interactions, a knowledge graph."""

from lakehouse.knowledge.drugs import DrugRef, UnknownDrugError, normalize_drug, require_drug, suggest_drugs
from lakehouse.knowledge.graph import Edge, KnowledgeGraph, UnknownNodeError, default_graph, neighbors
from lakehouse.knowledge.icd10 import UnknownICD10Error, describe_icd10, findings_for_icd10, icd10_for_finding
from lakehouse.knowledge.interactions import Interaction, InteractionTable, InteractionTableError

__all__ = [
    "DrugRef",
    "Edge",
    "Interaction",
    "InteractionTable",
    "InteractionTableError",
    "KnowledgeGraph",
    "UnknownDrugError",
    "UnknownICD10Error",
    "UnknownNodeError",
    "default_graph",
    "describe_icd10",
    "findings_for_icd10",
    "icd10_for_finding",
    "neighbors",
    "normalize_drug",
    "require_drug",
    "suggest_drugs",
]
