"""The command line and its client ride along in the function's source folder, but the function
never imports them, and they import nothing of the function: each side is checked in a fresh
interpreter, as an instance or a shell starts it."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
COMMAND_MODULES = {"jobcourier.client", "jobcourier.cli"}

FUNCTION_PROBE = """
import importlib, json, pkgutil, sys
sys.path.insert(0, sys.argv[1])
import main  # the entry point, as functions-framework loads it
import jobcourier
every = [m.name for m in pkgutil.walk_packages(jobcourier.__path__, "jobcourier.")]
for name in every:
    if name not in ("jobcourier.client", "jobcourier.cli"):
        importlib.import_module(name)
print(json.dumps({"imported": sorted(sys.modules), "walked": every}))
"""

COMMAND_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import jobcourier.cli
print(json.dumps(sorted(sys.modules)))
"""


def fresh(probe: str) -> object:
    done = subprocess.run(
        [sys.executable, "-c", probe, str(FUNCTIONS)],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("JOBCOURIER_")},
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_function_imports_neither_the_client_nor_the_command():
    seen = fresh(FUNCTION_PROBE)
    assert isinstance(seen, dict)
    assert set(seen["walked"]) >= COMMAND_MODULES  # the probe does see them in the package
    assert "main" in seen["imported"] and "jobcourier.courier" in seen["imported"]
    assert COMMAND_MODULES.isdisjoint(seen["imported"])


def test_no_function_module_imports_them_even_lazily():
    command_files = {FUNCTIONS / "jobcourier" / "client.py", FUNCTIONS / "jobcourier" / "cli.py"}
    offenders = []
    for path in sorted(FUNCTIONS.rglob("*.py")):
        if path in command_files:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            offenders += [f"{path.name}: {n}" for n in names if n in COMMAND_MODULES]
    assert offenders == []


def test_the_command_imports_nothing_of_the_function():
    imported = fresh(COMMAND_PROBE)
    assert isinstance(imported, list)
    jobcourier_modules = {m for m in imported if m.split(".")[0] == "jobcourier"}
    assert jobcourier_modules == {"jobcourier", *COMMAND_MODULES}
    heavy = {"flask", "functions_framework", "google.cloud.storage", "google.cloud.tasks_v2"}
    assert heavy.isdisjoint(imported)
    assert "google.oauth2" not in imported  # only when a token is needed
