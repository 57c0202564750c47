"""The results bucket, its notifications, and the queues' pacing against the providers'
documented limits (docs/providers.md)."""

from __future__ import annotations

from typing import Any

from tests.infra import tf


def test_results_bucket_is_private_and_recoverable(modules: dict[str, Any]) -> None:
    bucket = modules["results_bucket"].resource("google_storage_bucket", "results").body
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert "soft_delete_policy" in bucket or "versioning" in bucket
    assert bucket["labels"] == "${var.labels}"
    assert "lifecycle_rule" in bucket["dynamic"][0], "lifecycle rules come from a variable"


def test_manifest_notifications_reach_the_topic(modules: dict[str, Any]) -> None:
    module = modules["results_bucket"]
    notification = module.resource("google_storage_notification", "finalize").body
    assert notification["event_types"] == ["OBJECT_FINALIZE"]
    assert notification["payload_format"] == "JSON_API_V1"
    assert notification["topic"] == "${google_pubsub_topic.notifications.id}"
    assert "${google_pubsub_topic_iam_member.gcs_publisher}" in notification["depends_on"]
    publisher = module.resource("google_pubsub_topic_iam_member", "gcs_publisher").body
    assert publisher["role"] == "roles/pubsub.publisher"
    assert publisher["member"] == "${data.google_storage_project_service_account.gcs.member}"


def _queue_defaults(root: tf.Module, provider: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        root.variables["queue_rate_limits"]["default"][provider],
        root.variables["queue_retry_configs"]["default"][provider],
    )


def test_spacely_stays_well_below_the_lockout(root: tf.Module) -> None:
    rate, _ = _queue_defaults(root, "spacely")
    assert rate["max_dispatches_per_second"] <= 50  # the account is blocked above 100/s


def test_gepetto_stays_below_120_per_minute(root: tf.Module) -> None:
    rate, retry = _queue_defaults(root, "gepetto")
    assert rate["max_dispatches_per_second"] * 60 < 120
    assert tf.duration_seconds(retry["min_backoff"]) >= 10  # cold starts: no eager retry


def test_sellerpic_respects_concurrency_and_spacing(root: tf.Module) -> None:
    rate, retry = _queue_defaults(root, "sellerpic")
    assert rate["max_concurrent_dispatches"] <= 10
    assert tf.duration_seconds(retry["min_backoff"]) >= 60  # checks at least a minute apart


def test_fliki_retries_back_off_exponentially(root: tf.Module) -> None:
    _, retry = _queue_defaults(root, "fliki")
    assert retry["max_doublings"] >= 3
    assert tf.duration_seconds(retry["max_backoff"]) >= 8 * tf.duration_seconds(
        retry["min_backoff"]
    )


def test_every_queue_retries_a_bounded_number_of_times(
    root: tf.Module, modules: dict[str, Any]
) -> None:
    for route, retry in root.variables["queue_retry_configs"]["default"].items():
        assert 1 <= retry["max_attempts"] <= 100, route
        # 0 s: no time limit, so the attempts alone decide when a task is given up, and the
        # function can know its last attempt from X-CloudTasks-TaskRetryCount
        assert tf.duration_seconds(retry["max_retry_duration"]) == 0, route
        assert tf.duration_seconds(retry["min_backoff"]) <= tf.duration_seconds(
            retry["max_backoff"]
        ), route
    queue = modules["poll_queue"].resource("google_cloud_tasks_queue", "queue").body
    assert tf.first(queue["rate_limits"])["max_dispatches_per_second"] == (
        "${var.rate_limits.max_dispatches_per_second}"
    )
    assert tf.first(queue["retry_config"])["max_attempts"] == "${var.retry_config.max_attempts}"


def test_instances_outnumber_the_queues_concurrent_dispatches(root: tf.Module) -> None:
    limits = root.variables["queue_rate_limits"]["default"].values()
    total = sum(limit["max_concurrent_dispatches"] for limit in limits)
    assert root.variables["function_max_instances"]["default"] > total
