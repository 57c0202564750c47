"""The Terraform passes the offline tools: terraform fmt, checkov, and the provider-schema check.

The Google provider cannot be downloaded everywhere these tests run, so `terraform init`,
`validate` and `plan` run in Cloud Build (cloudbuild.yaml), not here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import INFRA, REPO

# ../shared/tools beside the checkout; a git worktree nested deeper finds it further up.
SCHEMA_CHECK = next(
    (
        candidate
        for candidate in (p / "shared" / "tools" / "tf-schema-check" for p in REPO.parents)
        if candidate.exists()
    ),
    REPO.parent / "shared" / "tools" / "tf-schema-check",
)


def test_terraform_is_formatted() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH (Cloud Build runs `terraform fmt -check` itself)")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(INFRA)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}"


@pytest.fixture(scope="module")
def checkov_report(checkov: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            str(checkov),
            "--directory",
            str(INFRA),
            "--framework",
            "terraform",
            "--output",
            "json",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.stdout, f"checkov printed nothing. stderr:\n{result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    # One framework gives one report; an empty scan gives a summary without results.
    return report[0] if isinstance(report, list) else report


def test_checkov_finds_no_failed_check(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in checkov_report["results"]["failed_checks"]
    ]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] > 0, "checkov scanned no resource"
    assert summary["passed"] > 0
    assert failed == []


def test_every_checkov_skip_says_why(checkov_report: dict[str, Any]) -> None:
    unjustified = [
        f"{c['check_id']} {c['resource']}"
        for c in checkov_report["results"]["skipped_checks"]
        if len((c.get("check_result") or {}).get("suppress_comment") or "") < 40
    ]
    assert unjustified == []


def test_provider_schema_check_finds_no_problem() -> None:
    """Every google_* resource and attribute exists in the pinned provider's schema
    (../shared/tools/tf-schema-check: present beside the repository in CI)."""
    if not SCHEMA_CHECK.exists():
        pytest.skip(f"{SCHEMA_CHECK} is absent")
    result = subprocess.run(
        [sys.executable, str(SCHEMA_CHECK), "infra"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("0 problems")
