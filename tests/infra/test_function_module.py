"""infra/modules/function: the one definition both functions are deployed from. It passes what
it is given to the function unchanged, so the contract tests can read a function's settings
from its module call (tf.function_call), and it fixes what the two must share."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra import tf


@pytest.fixture(scope="module")
def function(modules: dict[str, Any]) -> dict[str, Any]:
    module = modules["function"]
    assert [b.address for b in module.resources] == [
        "module.function.google_cloudfunctions2_function.function"
    ]
    return module.resource("google_cloudfunctions2_function", "function").body


def test_build_is_the_given_build(function: dict[str, Any]) -> None:
    build = tf.first(function["build_config"])
    for key in ("runtime", "entry_point", "service_account", "docker_repository"):
        assert build[key] == f"${{var.build.{key}}}", key
    storage_source = tf.first(tf.first(build["source"])["storage_source"])
    assert storage_source == {
        "bucket": "${var.build.source_bucket}",
        "object": "${var.build.source_object}",
        **{k: v for k, v in storage_source.items() if k.startswith("__")},
    }


def test_service_settings_are_the_given_ones(function: dict[str, Any]) -> None:
    service = tf.first(function["service_config"])
    for key in ("service_account_email", "timeout_seconds", "ingress_settings"):
        assert service[key] == f"${{var.{key}}}", key
    assert service["available_memory"] == "${var.available_memory}"
    assert service["max_instance_count"] == "${var.max_instance_count}"
    assert service["environment_variables"] == "${var.environment_variables}"
    for key in ("project", "location", "name", "description", "labels"):
        expected = "${var.project_id}" if key == "project" else f"${{var.{key}}}"
        assert function[key] == expected, key


def test_one_request_per_instance_and_no_idle_instance(function: dict[str, Any]) -> None:
    """What both functions share by design (docs/deploy.md, "The function's size")."""
    service = tf.first(function["service_config"])
    assert service["max_instance_request_concurrency"] == 1
    assert service["min_instance_count"] == 0
    assert service["all_traffic_on_latest_revision"] is True


def test_secrets_are_mounted_in_the_given_order(function: dict[str, Any]) -> None:
    service = tf.first(function["service_config"])
    assert "secret_environment_variables" not in service, "only the dynamic block"
    dynamic = tf.first(service["dynamic"])["secret_environment_variables"]
    assert dynamic["for_each"] == "${var.secret_environment_variables}"
    content = tf.first(dynamic["content"])
    assert content["key"] == "${secret_environment_variables.value.key}"
    assert content["secret"] == "${secret_environment_variables.value.secret}"
    assert content["version"] == "${secret_environment_variables.value.version}"
    assert content["project_id"] == "${var.project_id}"


def test_both_functions_share_build_and_environment(root: tf.Module) -> None:
    main = root.module_calls["main_function"]
    webhooks = root.module_calls["webhook_function"]
    assert main["build"] == webhooks["build"] == "${local.function_build}"
    assert main["environment_variables"] == "${local.function_environment}"
    assert webhooks["environment_variables"].startswith("${merge(local.function_environment,")


def test_the_move_into_the_module_keeps_the_deployed_functions(root: tf.Module) -> None:
    """Without these the next apply would destroy both functions and create them anew."""
    text = (root.path / "main.tf").read_text(encoding="utf-8")
    for old, call in (("jobcourier", "main_function"), ("webhooks", "webhook_function")):
        assert (
            f"from = google_cloudfunctions2_function.{old}\n"
            f"  to   = module.{call}.google_cloudfunctions2_function.function"
        ) in text
