"""The sweep (docs/contract.md): Cloud Scheduler POSTs `{}` to the main
function's /sweep on a schedule, with an OIDC token of the invoker account (the identity poll
tasks carry, allowed to invoke the main function and nothing else)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infra import tf


@pytest.fixture(scope="module")
def job(root: tf.Module) -> dict[str, Any]:
    jobs = root.of_type("google_cloud_scheduler_job")
    assert [j.name for j in jobs] == ["sweep"]
    return jobs[0].body


def test_posts_an_empty_json_object_to_the_main_functions_sweep(
    root: tf.Module, job: dict[str, Any]
) -> None:
    target = tf.first(job["http_target"])
    assert target["http_method"] == "POST"
    assert target["uri"] == "${local.function_url}/sweep"
    assert root.locals["function_url"].endswith("/${var.function_name}"), "the MAIN function"
    assert target["body"] == '${base64encode("{}")}'
    assert target["headers"]["Content-Type"] == "application/json"
    assert "app_engine_http_target" not in job and "pubsub_target" not in job


def test_carries_an_oidc_token_of_the_invoker_for_the_main_function(job: dict[str, Any]) -> None:
    target = tf.first(job["http_target"])
    assert "oauth_token" not in target, "Cloud Run wants an ID token, not an access token"
    token = tf.first(target["oidc_token"])
    assert token["service_account_email"] == "${google_service_account.invoker.email}"
    # The audience poll tasks use too (JOBCOURIER_SELF_URL): what the main function's IAM checks.
    assert token["audience"] == "${local.function_url}"


def test_runs_every_15_minutes_by_default(root: tf.Module, job: dict[str, Any]) -> None:
    assert job["schedule"] == "${var.sweep_schedule}"
    variable = root.variables["sweep_schedule"]
    assert variable["default"] == "*/15 * * * *"
    assert "validation" in variable
    assert job["time_zone"] == "Etc/UTC"
    assert job["region"] == "${var.region}"
    assert job["name"] == "${var.function_name}-sweep"


def test_waits_as_long_as_the_function_may_run(root: tf.Module, job: dict[str, Any]) -> None:
    assert job["attempt_deadline"] == "${var.function_timeout_seconds}s"
    timeout = root.variables["function_timeout_seconds"]
    # Cloud Scheduler accepts 15 s to 30 min for HTTP targets; the variable stays inside.
    assert "<= 1800" in str(timeout["validation"]) and ">= 60" in str(timeout["validation"])
    assert tf.first(job["retry_config"])["retry_count"] == 0, "the next run is the retry"


def test_is_created_once_it_can_mint_and_use_the_token(job: dict[str, Any]) -> None:
    assert set(job["depends_on"]) == {
        "${google_cloud_run_v2_service_iam_member.poll_task_invoker}",
        "${google_service_account_iam_member.scheduler_mints_invoker_tokens}",
    }


def test_scheduler_service_agent_is_named_from_the_project_number(root: tf.Module) -> None:
    agent = root.locals["scheduler_service_agent"]
    assert re.fullmatch(
        r"serviceAccount:service-\$\{data\.google_project\.project\.number\}"
        r"@gcp-sa-cloudscheduler\.iam\.gserviceaccount\.com",
        agent,
    )
    project = next(d for d in root.data if d.type == "google_project")
    assert project.body["project_id"] == "${var.project_id}"
