"""The ``sagehealth`` console command: mounts every command module in ``app/commands``.

Command modules register themselves through ``register(app)``; a module that fails to import
because an optional part is missing does not take the whole CLI down.
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil

import typer

import app.commands as commands_pkg

app = typer.Typer(name="sagehealth", help="Governed, traced clinical AI agents over your own data, offline.", no_args_is_help=True, pretty_exceptions_show_locals=False,
                  epilog="Start with: sagehealth ingest, then sagehealth demo (make demo runs both). Every command's --help ends with examples.")


def _offline_defaults() -> None:
    # The system never reaches a model hub or telemetry service at run time.
    for key, value in {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
        "TOKENIZERS_PARALLELISM": "false",
        # OpenMP threads sleep when idle instead of spinning: on a busy 2-core machine, spinning
        # threads stall each other and one embedding took ~1 s instead of ~10 ms. Read by torch's
        # OpenMP runtime when it starts, so it is set before any command imports torch.
        "OMP_WAIT_POLICY": "PASSIVE",
    }.items():
        os.environ.setdefault(key, value)


def _register_all() -> None:
    if app.registered_commands or app.registered_groups:
        return  # already mounted (a test and main() in one process)
    for info in sorted(pkgutil.iter_modules(commands_pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"app.commands.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(app)


def main() -> None:
    """Entry point of the console script."""
    from app.help_examples import add_examples

    _offline_defaults()
    logging.basicConfig(level=os.environ.get("SAGE_LOG_LEVEL", "WARNING"))
    _register_all()
    add_examples(app)
    app()


if __name__ == "__main__":
    main()
