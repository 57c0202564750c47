"""cloudbuild.yaml: ids and pinned images, substitutions, and the pipeline the deployment
relies on (lock-file install, lint, tests with a kept JUnit report, terraform fmt/init/validate/
plan, apply of that plan, smoke check of the deployed function)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infra import tf
from tests.infra.conftest import REPO

BUILT_IN = {
    "PROJECT_ID",
    "PROJECT_NUMBER",
    "BUILD_ID",
    "LOCATION",
    "TRIGGER_NAME",
    "COMMIT_SHA",
    "SHORT_SHA",
    "REVISION_ID",
    "BRANCH_NAME",
    "TAG_NAME",
    "REPO_NAME",
    "SERVICE_ACCOUNT_EMAIL",
    "SERVICE_ACCOUNT",
}
REFERENCE = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def _resolve(text: str, substitutions: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return substitutions.get(name, match.group(0))

    for _ in range(3):  # defaults may refer to other substitutions
        text = REFERENCE.sub(one, text)
    return text


def _step(cloudbuild: dict[str, Any], step_id: str) -> dict[str, Any]:
    for step in cloudbuild["steps"]:
        if step.get("id") == step_id:
            return step
    raise KeyError(f"expected a step with id {step_id!r}")


def _script(step: dict[str, Any]) -> str:
    return " ".join(str(a) for a in [step.get("entrypoint", ""), *step.get("args", [])])


def _ancestors(cloudbuild: dict[str, Any], step_id: str) -> set[str]:
    steps = {s["id"]: s for s in cloudbuild["steps"]}
    order = [s["id"] for s in cloudbuild["steps"]]
    seen: set[str] = set()
    pending = [step_id]
    while pending:
        current = pending.pop()
        wait_for = steps[current].get("waitFor")
        if wait_for is None:  # no waitFor: waits for every step before it
            parents = order[: order.index(current)]
        else:
            parents = [p for p in wait_for if p != "-"]
        for parent in parents:
            if parent not in seen:
                seen.add(parent)
                pending.append(parent)
    return seen


def test_every_step_has_a_unique_id(cloudbuild: dict[str, Any]) -> None:
    ids = [step.get("id") for step in cloudbuild["steps"]]
    assert all(ids), "every step needs an id"
    assert len(ids) == len(set(ids))


def test_every_image_is_pinned(cloudbuild: dict[str, Any]) -> None:
    substitutions = cloudbuild["substitutions"]
    for step in cloudbuild["steps"]:
        image = _resolve(step["name"], substitutions)
        assert "$" not in image, f"{step['id']}: unresolved image {image}"
        if "@sha256:" in image:
            continue
        tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
        assert re.search(r"[0-9]+\.[0-9]+", tag), f"{step['id']}: {image} is not pinned"


def test_custom_substitutions_start_with_underscore_and_have_defaults(
    cloudbuild: dict[str, Any],
) -> None:
    substitutions = cloudbuild["substitutions"]
    assert all(name.startswith("_") for name in substitutions)
    text = (REPO / "cloudbuild.yaml").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    used = {m.group(1) or m.group(2) for m in REFERENCE.finditer(body)}
    unknown = {name for name in used if name not in BUILT_IN and name not in substitutions}
    assert unknown == set(), "used without a default (or a shell variable not written $$)"
    unused = set(substitutions) - {name for name in used if name in substitutions}
    assert unused == set()


def test_nothing_project_specific_is_hard_coded(cloudbuild: dict[str, Any]) -> None:
    text = (REPO / "cloudbuild.yaml").read_text(encoding="utf-8")
    assert not re.search(r"gs://[a-z0-9]", text), "bucket names come from substitutions"
    assert "iam.gserviceaccount.com" not in text
    assert "-var=project_id=${PROJECT_ID}" in text


def test_install_lint_and_tests_from_the_lock_file(cloudbuild: dict[str, Any]) -> None:
    assert _step(cloudbuild, "install")["args"] == ["uv", "sync", "--frozen"]
    assert "ruff check" in _script(_step(cloudbuild, "lint"))
    assert "ruff format --check" in _script(_step(cloudbuild, "lint"))
    test = _script(_step(cloudbuild, "test"))
    assert "pytest --junitxml=reports/junit.xml" in test
    assert "uv run --frozen" in test
    assert "reports/junit.xml" in cloudbuild["artifacts"]["objects"]["paths"]


def test_failing_tests_fail_the_build(cloudbuild: dict[str, Any]) -> None:
    # The test step keeps going so the report can be kept; the next step must fail for it.
    report = _script(_step(cloudbuild, "test-report"))
    assert 'exit "$$status"' in report
    assert "test-report" in _ancestors(cloudbuild, "deploy")


def test_terraform_fmt_init_validate_plan(cloudbuild: dict[str, Any]) -> None:
    assert _step(cloudbuild, "tf-fmt")["args"][:3] == ["fmt", "-check", "-recursive"]
    assert "init" in _step(cloudbuild, "tf-init")["args"]
    assert "validate" in _step(cloudbuild, "tf-validate")["args"]
    plan = _step(cloudbuild, "tf-plan")["args"]
    assert "plan" in plan and "-out=tfplan" in plan
    for step_id in ("tf-fmt", "tf-init", "tf-validate", "tf-plan", "deploy"):
        image = _resolve(_step(cloudbuild, step_id)["name"], cloudbuild["substitutions"])
        assert image.startswith("hashicorp/terraform:"), f"{step_id}: {image}"


def test_terraform_image_satisfies_required_version(
    cloudbuild: dict[str, Any], root: tf.Module
) -> None:
    image = _resolve(_step(cloudbuild, "tf-plan")["name"], cloudbuild["substitutions"])
    major, minor = (int(x) for x in image.rsplit(":", 1)[1].split(".")[:2])
    required = root.terraform[0]["required_version"]
    floor = re.search(r">=\s*([0-9]+)\.([0-9]+)", required)
    ceiling = re.search(r"<\s*([0-9]+)\.([0-9]+)", required)
    assert floor and ceiling
    assert (int(floor[1]), int(floor[2])) <= (major, minor) < (int(ceiling[1]), int(ceiling[2]))


def test_deploy_applies_the_reviewed_plan_after_lint_and_tests(cloudbuild: dict[str, Any]) -> None:
    deploy = _script(_step(cloudbuild, "deploy"))
    assert re.search(r"terraform -chdir=infra apply .*tfplan", deploy)
    scripts = " ".join(_script(step) for step in cloudbuild["steps"])
    assert "functions deploy" not in scripts, "Terraform owns the function"
    assert {"tf-plan", "lint", "test", "install"} <= _ancestors(cloudbuild, "deploy")


@pytest.mark.parametrize(
    ("request_line", "status"),
    [('call GET "/jobs/spacely/', "404"), ("call POST /jobs", "400")],
)
def test_smoke_check_calls_the_deployed_function(
    cloudbuild: dict[str, Any], request_line: str, status: str
) -> None:
    smoke = _step(cloudbuild, "smoke")
    script = _script(smoke)
    assert "deploy" in _ancestors(cloudbuild, "smoke")
    assert "print-identity-token" in script and "Authorization: Bearer" in script
    line = next(line for line in script.splitlines() if request_line in line)
    following = script[script.index(line) :]
    assert f"= {status} ]" in following


def test_deploy_records_both_functions_urls(cloudbuild: dict[str, Any], root: tf.Module) -> None:
    deploy = _script(_step(cloudbuild, "deploy"))
    for output in ("function_url", "webhook_url"):
        assert f"output -raw {output} > /workspace/{output}" in deploy
        assert output in root.outputs


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        ("anonymous POST /webhooks/gepetto ", "401"),
        ("anonymous POST '/webhooks/gepetto?token=wrong", "401"),
        ('anonymous GET "/jobs/spacely/', "404"),
    ],
)
def test_smoke_check_calls_the_public_webhook_function_anonymously(
    cloudbuild: dict[str, Any], request_line: str, status: str
) -> None:
    """Without a token a callback is refused by the function itself (IAM would say 403), and
    the webhook function serves nothing but webhooks."""
    smoke = _step(cloudbuild, "smoke-webhooks")
    script = _script(smoke)
    assert "deploy" in _ancestors(cloudbuild, "smoke-webhooks")
    assert "/workspace/webhook_url" in script
    assert "Authorization" not in script and "print-identity-token" not in script
    line = next(line for line in script.splitlines() if request_line in line)
    following = script[script.index(line) :]
    assert f"= {status} ]" in following
