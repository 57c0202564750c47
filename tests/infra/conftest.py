"""Fixtures of the infra tests: the parsed Terraform and cloudbuild.yaml, and checkov in a
virtualenv of its own (it pins old dependencies), created with uv on first use."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra import tf

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
CHECKOV_REQUIREMENTS = Path(__file__).with_name("checkov-requirements.txt")
CHECKOV_VENV = REPO / ".cache" / "checkov-venv"
CHECKOV_PYTHON = "3.11"  # the version checkov-requirements.txt was compiled for


@pytest.fixture(scope="session")
def modules() -> dict[str, tf.Module]:
    return tf.load(INFRA)


@pytest.fixture(scope="session")
def root(modules: dict[str, tf.Module]) -> tf.Module:
    return modules[""]


@pytest.fixture(scope="session")
def cloudbuild() -> dict[str, Any]:
    with (REPO / "cloudbuild.yaml").open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _uv() -> str | None:
    return os.environ.get("UV") or shutil.which("uv")


@pytest.fixture(scope="session")
def checkov() -> Path:
    """Path of the checkov executable, in .cache/checkov-venv; rebuilt when the pinned
    requirements change (the venv records the hash of the file it was built from)."""
    wanted = hashlib.sha256(CHECKOV_REQUIREMENTS.read_bytes()).hexdigest()
    stamp = CHECKOV_VENV / ".requirements.sha256"
    executable = CHECKOV_VENV / "bin" / "checkov"
    if executable.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        return executable
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed: it builds checkov's own virtualenv")
    shutil.rmtree(CHECKOV_VENV, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    subprocess.run(
        [uv, "venv", "--quiet", "--python", CHECKOV_PYTHON, str(CHECKOV_VENV)],
        check=True,
        env=env,
    )
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--require-hashes",
            "--python",
            str(CHECKOV_VENV / "bin" / "python"),
            "-r",
            str(CHECKOV_REQUIREMENTS),
        ],
        check=True,
        env=env,
    )
    stamp.write_text(wanted + "\n")
    return executable
