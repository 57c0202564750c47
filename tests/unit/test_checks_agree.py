"""The same checks run everywhere: scripts/test (= .ci/run), Cloud Build's lint step, and the
pre-commit hooks. A check added to one and forgotten in another fails here."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CHECKS = ("ruff check", "ruff format --check", "mypy")


def test_scripts_test_cloud_build_and_pre_commit_run_the_same_checks():
    script = (REPO / "scripts" / "test").read_text()
    cloudbuild = yaml.safe_load((REPO / "cloudbuild.yaml").read_text())
    [lint] = [s for s in cloudbuild["steps"] if s.get("id") == "lint"]
    hooks = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    entries = " ; ".join(h["entry"] for h in hooks)
    for check in CHECKS:
        assert f"uv run {check}" in script, check
        assert check in " ".join(lint["args"]), check
        assert check in entries, check
    assert "terraform fmt -check" in entries


def test_warnings_fail_the_tests_and_the_coverage_gate_is_set():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["tool"]["pytest"]["ini_options"]["filterwarnings"][0] == "error"
    assert pyproject["tool"]["coverage"]["run"]["branch"] is True
    assert pyproject["tool"]["coverage"]["report"]["fail_under"] >= 95
    assert set(pyproject["tool"]["mypy"]["files"]) >= {"functions/jobcourier", "tests", "bench"}
