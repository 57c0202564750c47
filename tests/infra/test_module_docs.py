"""Every module (the root and each infra/modules/<name>) has a README.md in the terraform-docs
layout terraform-google-modules use: a description, a Usage example, then an "## Inputs" table
(Name, Description, Type, Default, Required) and an "## Outputs" table (Name, Description)
that name exactly the module's variables and outputs."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infra import tf
from tests.infra.conftest import INFRA

INPUT_HEADER = ["Name", "Description", "Type", "Default", "Required"]
OUTPUT_HEADER = ["Name", "Description"]


def _cells(line: str) -> list[str]:
    """A markdown table row's cells; `\\|` is a pipe inside a cell."""
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def _section(text: str, heading: str) -> str:
    match = re.search(rf"^## {heading}\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, f"expected a '## {heading}' section"
    return match[1]


def _table(text: str, heading: str, header: list[str]) -> dict[str, list[str]]:
    """Rows of the table under `## heading`, by their (unescaped) Name."""
    lines = [line for line in _section(text, heading).splitlines() if line.startswith("|")]
    assert lines, f"'## {heading}' has no table"
    assert _cells(lines[0]) == header, f"'## {heading}' header: {_cells(lines[0])}"
    assert re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[1].strip()), "a separator row"
    rows: dict[str, list[str]] = {}
    for line in lines[2:]:
        cells = _cells(line)
        assert len(cells) == len(header), f"{heading}: {line}"
        name = cells[0].replace("\\_", "_").strip("`")
        assert name not in rows, f"{heading}: {name} listed twice"
        rows[name] = cells
    return rows


def _readme(module: tf.Module) -> str:
    path = module.path / "README.md"
    assert path.exists(), f"{path} is missing"
    return path.read_text(encoding="utf-8")


def _module_names() -> list[str]:
    return ["", *sorted(p.name for p in (INFRA / "modules").glob("*/") if p.is_dir())]


@pytest.mark.parametrize("name", _module_names(), ids=lambda n: n or "root")
def test_readme_is_in_the_terraform_docs_layout(modules: dict[str, Any], name: str) -> None:
    text = _readme(modules[name])
    assert text.startswith("# "), "a title first"
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings[-3:] == ["Usage", "Inputs", "Outputs"], headings
    description = text[: text.index("## Usage")].split("\n", 1)[1].strip()
    assert len(description) > 80, "say what the module is for"
    usage = _section(text, "Usage")
    assert re.search(r"```(hcl|sh)\n", usage), "a Usage example in a code block"
    if name:
        assert f'source = "./modules/{name}"' in usage, "the example calls the module"


@pytest.mark.parametrize("name", _module_names(), ids=lambda n: n or "root")
def test_readme_inputs_are_the_modules_variables(modules: dict[str, Any], name: str) -> None:
    module = modules[name]
    rows = _table(_readme(module), "Inputs", INPUT_HEADER)
    assert set(rows) - set(module.variables) == set(), "in the README, not in variables.tf"
    assert set(module.variables) - set(rows) == set(), "in variables.tf, not in the README"
    for var_name, variable in module.variables.items():
        required = rows[var_name][4]
        assert required == ("no" if "default" in variable else "yes"), f"{var_name}: Required"
        if "default" not in variable:
            assert rows[var_name][3] == "n/a", f"{var_name}: no default"


@pytest.mark.parametrize("name", _module_names(), ids=lambda n: n or "root")
def test_readme_outputs_are_the_modules_outputs(modules: dict[str, Any], name: str) -> None:
    module = modules[name]
    rows = _table(_readme(module), "Outputs", OUTPUT_HEADER)
    assert set(rows) - set(module.outputs) == set(), "in the README, not in outputs.tf"
    assert set(module.outputs) - set(rows) == set(), "in outputs.tf, not in the README"


def test_the_drift_check_notices_a_missing_and_an_extra_name(modules: dict[str, Any]) -> None:
    """The comparison above must fail when a variable is added without its row, or a row
    outlives its variable."""
    readme = (INFRA / "modules" / "poll_queue" / "README.md").read_text(encoding="utf-8")
    rows = _table(readme, "Inputs", INPUT_HEADER)
    variables = set(modules["poll_queue"].variables)
    assert set(rows) == variables
    assert set(rows) != variables | {"new_variable"}
    dropped = "\n".join(line for line in readme.splitlines() if not line.startswith("| name |"))
    assert set(_table(dropped, "Inputs", INPUT_HEADER)) != variables
    escaped = readme.replace("| log_sampling_ratio |", "| log\\_sampling\\_ratio |")
    assert set(_table(escaped, "Inputs", INPUT_HEADER)) == variables, "terraform-docs escapes _"
