"""Monitoring (infra/modules/monitoring, runbook docs/operations.md): log-based metrics keyed on
the events the function logs (docs/contract.md, "Log events"), alert policies that say what to
do and notify the channels given, and a dashboard whose JSON renders and shows the same signals."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.infra import tf
from tests.infra.conftest import INFRA, REPO

# The function's log events and their flat fields (besides provider and job_id, on every event).
EVENTS: dict[str, set[str]] = {
    "job_submitted": {"deadline_at"},
    "job_checked": {"status", "outcome", "next_check_in_s"},
    "job_settled": {"state", "error_code", "checks", "files", "bytes", "duration_s"},
    "job_canceled": set(),
    "job_replayed": set(),
    "callback_delivered": {"attempt", "http_status"},
    "callback_failed": {"attempt", "http_status", "final"},
    "provider_key_rejected": {"http_status"},
    "status_unrecognised": {"status"},
}
COMMON_FIELDS = {"provider", "job_id"}
USER_METRIC = "logging.googleapis.com/user/"
MONITORING = INFRA / "modules" / "monitoring"
DASHBOARD = MONITORING / "dashboards" / "jobcourier.json.tftpl"


@pytest.fixture(scope="module")
def monitoring(modules: dict[str, Any]) -> tf.Module:
    return modules["monitoring"]


@pytest.fixture(scope="module")
def metrics(monitoring: tf.Module) -> dict[str, dict[str, Any]]:
    return {b.name: b.body for b in monitoring.of_type("google_logging_metric")}


@pytest.fixture(scope="module")
def policies(monitoring: tf.Module) -> dict[str, dict[str, Any]]:
    return {b.name: b.body for b in monitoring.of_type("google_monitoring_alert_policy")}


def _event(filter_text: str) -> str:
    events = re.findall(r'jsonPayload\.event\s*=\s*"(\w+)"', filter_text)
    assert len(events) == 1, f"expected one jsonPayload.event= in the filter. Found: {events}"
    return events[0]


def _filter(monitoring: tf.Module, expression: str) -> str:
    """A condition's filter: local.filters.NAME, resolved."""
    match = re.fullmatch(r"\$\{local\.filters\.(\w+)\}", expression)
    assert match, f"conditions take their filter from local.filters. Found: {expression}"
    text = monitoring.locals["filters"][match[1]]
    for name in ("queue_scope", "service_scope"):  # the scopes the filters share
        text = text.replace(f"${{local.{name}}}", monitoring.locals[name])
    return str(text)


def _conditions(policy: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for condition in policy["conditions"]:
        for kind in ("condition_threshold", "condition_absent", "condition_matched_log"):
            if kind in condition:
                found.append((kind, tf.first(condition[kind])))
        for kind in ("condition_monitoring_query_language", "condition_prometheus_query_language"):
            assert kind not in condition, "a plain threshold or absence condition says it"
    return found


# --- log-based metrics -------------------------------------------------------------------------


def test_every_log_metric_keys_on_a_known_event(metrics: dict[str, Any]) -> None:
    assert metrics, "no google_logging_metric"
    for name, metric in metrics.items():
        event = _event(metric["filter"])
        assert event in EVENTS, f"{name}: {event} is not an event the function logs"
        fields = EVENTS[event] | COMMON_FIELDS
        referenced = set(re.findall(r"jsonPayload\.(\w+)", metric["filter"])) - {"event"}
        assert referenced <= fields, f"{name}: {referenced - fields} are not fields of {event}"


def test_every_log_metric_counts_the_functions_own_log_lines(
    monitoring: tf.Module, metrics: dict[str, Any]
) -> None:
    scope = monitoring.locals["log_scope"]
    assert 'resource.type=\\"cloud_run_revision\\"' in scope
    assert "var.service_names" in scope and "resource.labels.service_name" in scope
    for name, metric in metrics.items():
        assert metric["filter"].startswith("${local.log_scope} AND "), name
        assert metric["project"] == "${var.project_id}", name
        assert metric["name"].startswith("${var.metric_prefix}/"), name


def test_labels_come_from_the_events_fields_and_are_declared(metrics: dict[str, Any]) -> None:
    for name, metric in metrics.items():
        fields = EVENTS[_event(metric["filter"])] | COMMON_FIELDS
        extractors = metric.get("label_extractors", {})
        descriptor = tf.first(metric["metric_descriptor"])
        declared = {label["key"] for label in descriptor.get("labels", [])}
        assert set(extractors) == declared, f"{name}: extracted and declared labels differ"
        for key, extractor in extractors.items():
            assert extractor == f"EXTRACT(jsonPayload.{key})", f"{name}.{key}: {extractor}"
            assert key in fields, f"{name}: {key} is not a field of its event"
        assert "job_id" not in extractors, f"{name}: one time series per job is too many"
        assert descriptor["metric_kind"] == "DELTA"


def _labels(metric: dict[str, Any]) -> set[str]:
    return set(metric.get("label_extractors", {}))


def test_the_metrics_the_operators_need(metrics: dict[str, Any]) -> None:
    by_event = {name: _event(m["filter"]) for name, m in metrics.items()}
    counters = {n for n, m in metrics.items() if "value_extractor" not in m}
    settled = [n for n in counters if by_event[n] == "job_settled"]
    assert len(settled) == 1 and {"provider", "state"} <= _labels(metrics[settled[0]])

    distributions = {
        re.fullmatch(r"EXTRACT\(jsonPayload\.(\w+)\)", m["value_extractor"])[1]: n  # type: ignore[index]
        for n, m in metrics.items()
        if "value_extractor" in m
    }
    assert set(distributions) == {"checks", "duration_s"}
    for field, name in distributions.items():
        metric = metrics[name]
        assert by_event[name] == "job_settled", f"{field} is a field of job_settled"
        assert tf.first(metric["metric_descriptor"])["value_type"] == "DISTRIBUTION"
        buckets = tf.first(metric["bucket_options"])
        assert "exponential_buckets" in buckets, name
        assert "provider" in _labels(metric)

    for event in ("provider_key_rejected", "status_unrecognised", "callback_failed"):
        named = [n for n in counters if by_event[n] == event]
        assert len(named) == 1, f"one counter of {event}"
        assert _labels(metrics[named[0]]) == {"provider"}, named[0]
    given_up = next(n for n in counters if by_event[n] == "callback_failed")
    assert "jsonPayload.final=true" in metrics[given_up]["filter"], "final failures only"


def test_duration_buckets_reach_past_the_longest_deadline(metrics: dict[str, Any]) -> None:
    from jobcourier.validation import MAX_DEADLINE_SECONDS

    name = next(n for n, m in metrics.items() if "duration_s" in m.get("value_extractor", ""))
    buckets = tf.first(tf.first(metrics[name]["bucket_options"])["exponential_buckets"])
    top = buckets["scale"] * buckets["growth_factor"] ** buckets["num_finite_buckets"]
    assert top >= MAX_DEADLINE_SECONDS
    assert tf.first(metrics[name]["metric_descriptor"])["unit"] == "s"


# --- alert policies ----------------------------------------------------------------------------


def test_every_alert_says_what_it_means_and_what_to_do(policies: dict[str, Any]) -> None:
    assert policies, "no google_monitoring_alert_policy"
    for name, policy in policies.items():
        documentation = tf.first(policy.get("documentation", [None]))
        assert documentation, f"{name} has no documentation"
        assert documentation["mime_type"] == "text/markdown", name
        content = documentation["content"]
        assert "**What it means.**" in content and "**What to do.**" in content, name
        assert "docs/operations.md" in content, f"{name}: point at the runbook"
        assert documentation.get("subject"), name


def test_documentation_variables_are_escaped_for_terraform(policies: dict[str, Any]) -> None:
    """Cloud Monitoring fills ${metric.label.x} in; Terraform must not try to (it would fail
    `terraform validate`, which cannot run here): written $${...} in the .tf file."""
    for name, policy in policies.items():
        documentation = tf.first(policy["documentation"])
        for text in (documentation["content"], documentation["subject"]):
            for expression in re.findall(r"(?<!\$)\$\{([^}]*)\}", text):
                assert re.match(r"(var|local)\.", expression), f"{name}: ${{{expression}}}"


def test_every_alert_notifies_the_channels_given(root: tf.Module, policies: dict[str, Any]) -> None:
    for name, policy in policies.items():
        assert policy["notification_channels"] == "${var.notification_channels}", name
        assert policy["project"] == "${var.project_id}", name
        assert policy.get("severity") in {"CRITICAL", "ERROR", "WARNING"}, name
    call = root.module_calls["monitoring"]
    assert call["source"] == "./modules/monitoring"
    assert call["notification_channels"] == "${var.notification_channels}"
    assert root.variables["notification_channels"]["default"] == []


def test_alert_conditions_use_metrics_that_exist(
    monitoring: tf.Module, policies: dict[str, Any]
) -> None:
    """A log-based metric is referenced through its resource (so the policy waits for it), and
    every condition names its resource type (Monitoring refuses one that does not)."""
    for name, policy in policies.items():
        for _, condition in _conditions(policy):
            for key in ("filter", "denominator_filter"):
                if key not in condition:
                    continue
                text = _filter(monitoring, condition[key])
                assert "resource.type=" in text, f"{name}: {text}"
                metric_type = re.search(r'metric\.type="([^"]+)"', text)
                assert metric_type, f"{name}: {text}"
                if metric_type[1].startswith(USER_METRIC) or "user_metric" in metric_type[1]:
                    assert "${google_logging_metric." in metric_type[1], f"{name}: {text}"


def _policy_watching(policies: dict[str, Any], monitoring: tf.Module, needle: str) -> list[str]:
    return [
        name
        for name, policy in policies.items()
        if any(
            needle in _filter(monitoring, c[key])
            for _, c in _conditions(policy)
            for key in ("filter", "denominator_filter")
            if key in c
        )
    ]


def test_a_providers_failure_ratio(monitoring: tf.Module, policies: dict[str, Any]) -> None:
    condition = tf.first(policies["provider_failure_ratio"]["conditions"])
    threshold = tf.first(condition["condition_threshold"])
    numerator = _filter(monitoring, threshold["filter"])
    denominator = _filter(monitoring, threshold["denominator_filter"])
    assert 'metric.label.state=one_of("failed", "timed_out")' in numerator
    assert numerator.startswith(denominator), "the same metric, narrowed to failures"
    assert "metric.label" not in denominator, "over all settled jobs"
    for key in ("aggregations", "denominator_aggregations"):
        assert tf.first(threshold[key])["group_by_fields"] == ["metric.label.provider"]
    assert threshold["threshold_value"] == "${var.provider_failure_ratio}"
    assert threshold["comparison"] == "COMPARISON_GT"


def test_jobs_settled_chain_lost_or_internal_error(
    monitoring: tf.Module, policies: dict[str, Any]
) -> None:
    (kind, threshold) = _conditions(policies["chain_lost_or_internal_error"])[0]
    assert kind == "condition_threshold"
    text = _filter(monitoring, threshold["filter"])
    assert 'metric.label.error_code=one_of("chain_lost", "internal_error")' in text
    assert "jobs_settled" in text
    assert (threshold["comparison"], threshold["threshold_value"]) == ("COMPARISON_GT", 0)


def test_a_rejected_api_key(monitoring: tf.Module, policies: dict[str, Any]) -> None:
    assert _policy_watching(policies, monitoring, "provider_keys_rejected") == [
        "provider_key_rejected"
    ]
    (_, threshold) = _conditions(policies["provider_key_rejected"])[0]
    assert (threshold["comparison"], threshold["threshold_value"]) == ("COMPARISON_GT", 0)


def test_a_growing_queue(root: tf.Module, monitoring: tf.Module, policies: dict[str, Any]) -> None:
    conditions = _conditions(policies["queue_backlog"])
    texts = [_filter(monitoring, c["filter"]) for _, c in conditions]
    assert any('metric.type="cloudtasks.googleapis.com/queue/depth"' in t for t in texts)
    assert any('"cloudtasks.googleapis.com/queue/task_attempt_delays"' in t for t in texts)
    assert policies["queue_backlog"]["combiner"] == "OR"
    for _, condition in conditions:
        assert tf.duration_seconds(condition["duration"]) >= 900, "sustained, not a blip"
        assert tf.first(condition["aggregations"])["group_by_fields"] == ["resource.label.queue_id"]
    scope = monitoring.locals["queue_scope"]
    assert scope.startswith('resource.type="cloud_tasks_queue" AND ') and "var.queue_ids" in scope
    queue_ids = root.module_calls["monitoring"]["queue_ids"]
    assert queue_ids == "${[for queue in module.poll_queue : queue.name]}", "every poll queue"


def test_the_functions_answering_5xx(monitoring: tf.Module, policies: dict[str, Any]) -> None:
    (_, threshold) = _conditions(policies["server_errors"])[0]
    text = _filter(monitoring, threshold["filter"])
    assert 'metric.type="run.googleapis.com/request_count"' in text
    assert 'metric.label.response_code_class="5xx"' in text
    assert "var.service_names" in monitoring.locals["service_scope"]
    assert tf.first(threshold["aggregations"])["group_by_fields"] == ["resource.label.service_name"]


def test_nothing_settles_while_jobs_are_in_flight(
    root: tf.Module, monitoring: tf.Module, policies: dict[str, Any]
) -> None:
    policy = policies["nothing_settles"]
    assert policy["combiner"] == "AND", "both at once"
    conditions = dict(_conditions(policy))
    absent = conditions["condition_absent"]
    in_flight = conditions["condition_threshold"]
    assert "jobs_settled" in _filter(monitoring, absent["filter"])
    assert "cloudtasks.googleapis.com/queue/depth" in _filter(monitoring, in_flight["filter"])
    assert (in_flight["comparison"], in_flight["threshold_value"]) == ("COMPARISON_GT", 0)
    hours = "${var.stalled_after_hours * 3600}s"
    assert absent["duration"] == in_flight["duration"] == hours
    assert root.module_calls["monitoring"]["stalled_after_hours"] == (
        "${var.alert_stalled_after_hours}"
    )
    default = root.variables["alert_stalled_after_hours"]["default"]
    assert 1 <= default <= 23, "Cloud Monitoring's absence window ends at 23.5 hours"
    # Longer than the providers' default deadlines (3 h at most) plus the sweep's grace (1 h).
    assert default > 3 + 1


def test_every_threshold_is_a_variable_with_a_default(root: tf.Module) -> None:
    call = root.module_calls["monitoring"]
    thresholds = {
        "provider_failure_ratio",
        "provider_failure_window_seconds",
        "stalled_after_hours",
        "queue_depth_threshold",
        "queue_delay_threshold_seconds",
        "server_errors_threshold",
    }
    for name in thresholds:
        assert call[name] == f"${{var.alert_{name}}}", name
        assert "default" in root.variables[f"alert_{name}"], name


# --- dashboard ---------------------------------------------------------------------------------


def _render(template: str, filters: dict[str, Any]) -> str:
    """templatefile(), for the placeholders the dashboard uses."""

    def placeholder(match: re.Match[str]) -> str:
        expression = match[1]
        if found := re.fullmatch(r"jsonencode\(filters\.(\w+)\)", expression):
            assert found[1] in filters, f"no local.filters.{found[1]}"
            return json.dumps(f"stand-in for filters.{found[1]}")
        return {
            "jsonencode(display_name)": json.dumps("jobcourier"),
            "jsonencode(window)": json.dumps("3600s"),
            "failure_ratio": "0.25",
        }[expression]

    rendered = re.sub(r"(?<!\$)\$\{([^}]*)\}", placeholder, template)
    return rendered.replace("$${", "${")


@pytest.fixture(scope="module")
def dashboard(monitoring: tf.Module) -> dict[str, Any]:
    block = monitoring.resource("google_monitoring_dashboard", "jobcourier").body
    template = 'templatefile("${path.module}/dashboards/jobcourier.json.tftpl"'
    assert template in block["dashboard_json"]
    for variable in ("display_name", "filters", "window", "failure_ratio"):
        assert re.search(rf"\b{variable}\s*=", block["dashboard_json"]), variable
    rendered = _render(DASHBOARD.read_text(encoding="utf-8"), monitoring.locals["filters"])
    return json.loads(rendered)


def _tile_filters(tile: dict[str, Any]) -> list[str]:
    return [
        str(value) for key, value in tf.walk(tile) if key == "filter" and isinstance(value, str)
    ]


def test_dashboard_renders_to_json_and_tiles_do_not_overlap(dashboard: dict[str, Any]) -> None:
    layout = dashboard["mosaicLayout"]
    cells: set[tuple[int, int]] = set()
    for tile in layout["tiles"]:
        assert tile["xPos"] + tile["width"] <= layout["columns"]
        area = {
            (x, y)
            for x in range(tile["xPos"], tile["xPos"] + tile["width"])
            for y in range(tile["yPos"], tile["yPos"] + tile["height"])
        }
        assert not cells & area, f"{tile['widget']['title']} overlaps another tile"
        cells |= area


def test_dashboard_shows_every_signal(dashboard: dict[str, Any], monitoring: tf.Module) -> None:
    shown = {
        re.fullmatch(r"stand-in for filters\.(\w+)", f)[1]  # type: ignore[index]
        for tile in dashboard["mosaicLayout"]["tiles"]
        for f in _tile_filters(tile)
    }
    assert shown == set(monitoring.locals["filters"]), "every filter has a tile, and no more"
    titles = " | ".join(t["widget"]["title"] for t in dashboard["mosaicLayout"]["tiles"])
    for words in ("by state", "by provider", "Checks per job", "settled (p50, p95)", "API keys"):
        assert words in titles, words
    for words in ("Unrecognised statuses", "Callbacks given up", "queue depth", "5xx"):
        assert words.lower() in titles.lower(), words


def test_operations_runbook_documents_every_alert_and_metric(
    policies: dict[str, Any], metrics: dict[str, Any]
) -> None:
    runbook = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#+ (.+)$", runbook, flags=re.MULTILINE))
    for name, policy in policies.items():
        content = tf.first(policy["documentation"])["content"]
        section = re.search(r'docs/operations\.md[^"]*"([^"]+)"', content)
        assert section, f"{name}: its documentation names a runbook section"
        assert section[1] in headings, f"{name}: docs/operations.md has no section {section[1]!r}"
    for metric in metrics.values():
        short = metric["name"].removeprefix("${var.metric_prefix}/")
        assert f"jobcourier/{short}" in runbook, f"docs/operations.md does not list {short}"
