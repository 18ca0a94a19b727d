"""Every command's ``--help`` ends with an example of that very command (issue: CLI polish)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import app.cli as cli
from app.help_examples import _commands, add_examples


@pytest.fixture(autouse=True)
def mounted() -> None:
    """The CLI as ``main()`` builds it, at test time (other tests register command modules on apps of their own)."""
    cli._register_all()
    add_examples(cli.app)


def test_every_command_has_examples_from_its_module() -> None:
    assert len([path for path, _ in _commands(cli.app, "sagehealth")]) > 40
    assert [p for p, info in _commands(cli.app, "sagehealth") if not info.epilog] == []


@pytest.mark.parametrize("path", ["sagehealth trace", "sagehealth keys create", "sagehealth feedback correct", "sagehealth labels", "sagehealth review approve"])
def test_help_prints_an_example_of_the_command(path: str) -> None:
    words = path.split()[1:]
    result = CliRunner().invoke(cli.app, [*words, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    examples = [line.strip() for line in result.output.split("Example", 1)[1].splitlines() if line.strip().startswith("sagehealth ")]
    assert examples and all(line.startswith(path) for line in examples), examples
