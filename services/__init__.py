"""Use cases of SAGE-Health, one function each, under every entry point (CLI, HTTP API, MCP).

Each takes ``(resources, caller, typed request)`` and returns a typed result; each authorises
through the one governed gate (``tools.governed.authorize``/``decide``), audits once and opens
its ``invoke_workflow`` span. Entry points build a :class:`~policies.engine.Caller` from their
own authentication and never reach ``lakehouse``, ``models`` or ``tools`` themselves.

======================  =====================================  ===========================
module                  functions                              gate (pack action)
======================  =====================================  ===========================
``services.runs``       run_task, resume, get_run, plan, trace graph governance; review
``services.reviews``    list_reviews, show_review, decide      review
``services.chat``       turn                                   chat (+ graph governance)
``services.batch``      generate_batch                         the mode's tools
``services.data``       ingest, search, query                  ingest; the tools
``services.adapters``   train, list/show/delete/merge          adapt_train; models_read; adapt_manage
``services.knowledge``  import_interactions, list_tables       import_interactions; knowledge_read
``services.models``     list_models                            models_read
``services.audit``      verify                                 audit_verify
======================  =====================================  ===========================
"""
