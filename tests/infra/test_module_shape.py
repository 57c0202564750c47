"""infra/ is shaped like terraform-google-modules: four files per module, typed and described
variables, provider versions with a floor and a ceiling."""

from __future__ import annotations

import re
from typing import Any

from tests.infra import tf
from tests.infra.conftest import INFRA

STANDARD_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf")


def test_every_module_has_the_standard_files(modules: dict[str, Any]) -> None:
    assert {"", "poll_queue", "results_bucket", "function", "monitoring"} <= set(modules)
    for module in modules.values():
        for file_name in STANDARD_FILES:
            assert (module.path / file_name).exists(), f"{module.path}/{file_name}"


def test_every_variable_is_typed_and_described(modules: dict[str, Any]) -> None:
    for name, module in modules.items():
        for var_name, variable in module.variables.items():
            assert "type" in variable, f"{name or 'root'}: variable {var_name} has no type"
            assert len(variable.get("description", "")) > 10, f"{var_name} has no description"


def test_every_output_is_described(modules: dict[str, Any]) -> None:
    for module in modules.values():
        for out_name, output in module.outputs.items():
            assert output.get("description"), out_name


def test_providers_have_a_version_floor_and_ceiling(modules: dict[str, Any]) -> None:
    for name, module in modules.items():
        required = [p for block in module.terraform for p in block.get("required_providers", [])]
        assert required, f"{name or 'root'} declares no required_providers"
        for providers in required:
            for provider, spec in providers.items():
                if provider.startswith("__"):  # python-hcl2's block marker
                    continue
                version = spec["version"]
                assert re.search(r">=\s*[0-9]", version) and re.search(r"<\s*[0-9]", version), (
                    f"{provider}: {version}"
                )
        google = next(p["google"] for p in required if "google" in p)
        assert google["source"] == "hashicorp/google"


def test_only_safe_defaults_for_project_specific_values(root: tf.Module) -> None:
    for name in ("project_id", "region"):
        assert "default" not in root.variables[name], f"{name} must be given, not guessed"


def test_example_tfvars_names_only_declared_variables(root: tf.Module) -> None:
    text = (INFRA / "terraform.tfvars.example").read_text(encoding="utf-8")
    assigned = set(re.findall(r"^(?:# )?([a-z_]+) *=", text, flags=re.MULTILINE))
    assert {"project_id", "region"} <= assigned
    assert assigned - set(root.variables) == set()
