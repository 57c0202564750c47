"""functions/requirements.txt is what Cloud Functions installs: it must be the lock's."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv runs these tests via scripts/test")
def test_requirements_txt_is_generated_from_the_lock():
    exported = subprocess.run(
        [
            "uv",
            "export",
            "--frozen",
            "--no-dev",
            "--no-emit-project",
            "--format",
            "requirements-txt",
            "--quiet",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    committed = (ROOT / "functions" / "requirements.txt").read_text()
    body = lambda text: [ln for ln in text.splitlines() if not ln.startswith("#")]  # noqa: E731
    assert body(committed) == body(exported), "run scripts/export-requirements"


def test_every_runtime_dependency_is_pinned_in_requirements_txt():
    text = (ROOT / "functions" / "requirements.txt").read_text()
    for name in (
        "functions-framework==3.10.2",
        "google-auth==2.62.2",
        "google-cloud-storage==3.17.1",
        "google-cloud-tasks==2.26.0",
        "requests==2.34.2",
    ):
        assert name in text


def test_the_project_itself_is_not_a_requirement():
    # The function's source is uploaded as it is; only its dependencies are installed.
    text = (ROOT / "functions" / "requirements.txt").read_text()
    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    assert not [ln for ln in lines if ln.startswith(("jobcourier", "-e", ".", "file:"))]
