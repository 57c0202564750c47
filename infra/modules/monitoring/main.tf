# Operations as code for jobcourier: log-based metrics keyed on the `event` field of the
# function's structured log lines (docs/contract.md, "Log events"), alert policies that say what to
# do, and a dashboard kept as JSON beside them. The runbook is docs/operations.md.

locals {
  # The functions' own log lines (2nd gen functions log as their Cloud Run service).
  log_scope = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "(${join(" OR ", [for s in var.service_names : "resource.labels.service_name=\"${s}\""])})",
  ])

  user_metric = "logging.googleapis.com/user"

  # Monitoring filters, shared by the alert policies and the dashboard. Every condition on a
  # log-based metric names its resource type too (Monitoring refuses one without it).
  filters = {
    settled                = "metric.type=\"${local.user_metric}/${google_logging_metric.jobs_settled.name}\" AND resource.type=\"cloud_run_revision\""
    checks                 = "metric.type=\"${local.user_metric}/${google_logging_metric.job_checks.name}\" AND resource.type=\"cloud_run_revision\""
    duration               = "metric.type=\"${local.user_metric}/${google_logging_metric.job_duration.name}\" AND resource.type=\"cloud_run_revision\""
    keys_rejected          = "metric.type=\"${local.user_metric}/${google_logging_metric.provider_keys_rejected.name}\" AND resource.type=\"cloud_run_revision\""
    statuses_unrecognised  = "metric.type=\"${local.user_metric}/${google_logging_metric.statuses_unrecognised.name}\" AND resource.type=\"cloud_run_revision\""
    callbacks_given_up     = "metric.type=\"${local.user_metric}/${google_logging_metric.callbacks_given_up.name}\" AND resource.type=\"cloud_run_revision\""
    queue_depth            = "metric.type=\"cloudtasks.googleapis.com/queue/depth\" AND ${local.queue_scope}"
    queue_dispatch_delays  = "metric.type=\"cloudtasks.googleapis.com/queue/task_attempt_delays\" AND ${local.queue_scope}"
    server_errors          = "metric.type=\"run.googleapis.com/request_count\" AND ${local.service_scope} AND metric.label.response_code_class=\"5xx\""
    settled_failed         = "metric.type=\"${local.user_metric}/${google_logging_metric.jobs_settled.name}\" AND resource.type=\"cloud_run_revision\" AND metric.label.state=one_of(\"failed\", \"timed_out\")"
    settled_chain_or_error = "metric.type=\"${local.user_metric}/${google_logging_metric.jobs_settled.name}\" AND resource.type=\"cloud_run_revision\" AND metric.label.error_code=one_of(\"chain_lost\", \"internal_error\")"
  }

  queue_scope   = "resource.type=\"cloud_tasks_queue\" AND resource.label.location=\"${var.location}\" AND resource.label.queue_id=one_of(${join(", ", [for q in var.queue_ids : "\"${q}\""])})"
  service_scope = "resource.type=\"cloud_run_revision\" AND resource.label.service_name=one_of(${join(", ", [for s in var.service_names : "\"${s}\""])})"
}

# ---------------------------------------------------------------------------------------------
# Log-based metrics: one per event (or per event and field), labels from the event's flat fields
# ---------------------------------------------------------------------------------------------

resource "google_logging_metric" "jobs_settled" {
  project     = var.project_id
  name        = "${var.metric_prefix}/jobs_settled"
  description = "Jobs settled (a manifest written), by provider, state and error code: one job_settled event each."
  filter      = "${local.log_scope} AND jsonPayload.event=\"job_settled\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "jobcourier jobs settled"

    labels {
      key         = "provider"
      value_type  = "STRING"
      description = "Provider of the job (spacely, gepetto, sellerpic, fliki...)."
    }
    labels {
      key         = "state"
      value_type  = "STRING"
      description = "succeeded, partial, failed, timed_out or canceled."
    }
    labels {
      key         = "error_code"
      value_type  = "STRING"
      description = "The manifest's error code (empty when succeeded): chain_lost, internal_error, provider_failed..."
    }
  }

  label_extractors = {
    provider   = "EXTRACT(jsonPayload.provider)"
    state      = "EXTRACT(jsonPayload.state)"
    error_code = "EXTRACT(jsonPayload.error_code)"
  }
}

resource "google_logging_metric" "job_checks" {
  project         = var.project_id
  name            = "${var.metric_prefix}/job_checks"
  description     = "Status checks a job took until it settled (the checks field of job_settled), by provider."
  filter          = "${local.log_scope} AND jsonPayload.event=\"job_settled\""
  value_extractor = "EXTRACT(jsonPayload.checks)"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "1"
    display_name = "jobcourier checks per job"

    labels {
      key         = "provider"
      value_type  = "STRING"
      description = "Provider of the job."
    }
  }

  label_extractors = {
    provider = "EXTRACT(jsonPayload.provider)"
  }

  # 1, 2, 4 ... 2048 checks, and beyond.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 12
      growth_factor      = 2
      scale              = 1
    }
  }
}

resource "google_logging_metric" "job_duration" {
  project         = var.project_id
  name            = "${var.metric_prefix}/job_duration"
  description     = "Seconds from submission to settling (the duration_s field of job_settled), by provider and state."
  filter          = "${local.log_scope} AND jsonPayload.event=\"job_settled\""
  value_extractor = "EXTRACT(jsonPayload.duration_s)"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "s"
    display_name = "jobcourier job duration"

    labels {
      key         = "provider"
      value_type  = "STRING"
      description = "Provider of the job."
    }
    labels {
      key         = "state"
      value_type  = "STRING"
      description = "succeeded, partial, failed, timed_out or canceled."
    }
  }

  label_extractors = {
    provider = "EXTRACT(jsonPayload.provider)"
    state    = "EXTRACT(jsonPayload.state)"
  }

  # 10 s, 20 s ... about 45 days: wider than the 30-day deadline ceiling.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 19
      growth_factor      = 2
      scale              = 10
    }
  }
}

resource "google_logging_metric" "provider_keys_rejected" {
  project     = var.project_id
  name        = "${var.metric_prefix}/provider_keys_rejected"
  description = "Checks a provider refused because of our API key, or made without a key (provider_key_rejected), by provider."
  filter      = "${local.log_scope} AND jsonPayload.event=\"provider_key_rejected\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "jobcourier provider keys rejected"

    labels {
      key         = "provider"
      value_type  = "STRING"
      description = "Provider that refused the key."
    }
  }

  label_extractors = {
    provider = "EXTRACT(jsonPayload.provider)"
  }
}

resource "google_logging_metric" "statuses_unrecognised" {
  project     = var.project_id
  name        = "${var.metric_prefix}/statuses_unrecognised"
  description = "Status words nobody modelled (status_unrecognised), by provider. The word itself is in the log line, not a label: a provider could send anything."
  filter      = "${local.log_scope} AND jsonPayload.event=\"status_unrecognised\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "jobcourier unrecognised statuses"

    labels {
      key         = "provider"
      value_type  = "STRING"
      description = "Provider that sent the status."
    }
  }

  label_extractors = {
    provider = "EXTRACT(jsonPayload.provider)"
  }
}

resource "google_logging_metric" "callbacks_given_up" {
  project     = var.project_id
  name        = "${var.metric_prefix}/callbacks_given_up"
  description = "Callbacks given up for good (callback_failed with final true), by provider of the job."
  filter      = "${local.log_scope} AND jsonPayload.event=\"callback_failed\" AND jsonPayload.final=true"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "jobcourier callbacks given up"

    labels {
      key         = "provider"
      value_type  = "STRING"
      description = "Provider of the job whose callback failed."
    }
  }

  label_extractors = {
    provider = "EXTRACT(jsonPayload.provider)"
  }
}

# ---------------------------------------------------------------------------------------------
# Alert policies. Each says what it means and what to do; docs/operations.md says more.
# Conditions on log-based counters treat missing data as "not met": those series only have
# points when an event is logged, so an incident closes once the events stop.
# ---------------------------------------------------------------------------------------------

resource "google_monitoring_alert_policy" "provider_failure_ratio" {
  project               = var.project_id
  display_name          = "jobcourier: a provider's jobs fail"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "failed + timed_out over all settled jobs, per provider, above ${var.provider_failure_ratio}"

    condition_threshold {
      filter                  = local.filters.settled_failed
      denominator_filter      = local.filters.settled
      comparison              = "COMPARISON_GT"
      threshold_value         = var.provider_failure_ratio
      duration                = "300s"
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"

      aggregations {
        alignment_period     = "${var.provider_failure_window_seconds}s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.provider"]
      }

      denominator_aggregations {
        alignment_period     = "${var.provider_failure_window_seconds}s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.provider"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "jobcourier: $${metric.label.provider} jobs are failing"
    content   = <<-EOT
      More than ${var.provider_failure_ratio * 100}% of the **$${metric.label.provider}** jobs settled in the last ${var.provider_failure_window_seconds / 60} minutes ended `failed` or `timed_out`.

      **What it means.** The provider is failing its jobs (an outage, refused inputs), or its jobs run longer than their deadlines, or jobcourier loses them. At low volume a single failed job can cross the line: look at the counts first (dashboard "jobcourier", first row).

      **What to do.**
      1. Logs Explorer: `jsonPayload.event="job_settled" AND jsonPayload.provider="$${metric.label.provider}" AND jsonPayload.state=("failed" OR "timed_out")`. Group by `jsonPayload.error_code`.
      2. `provider_failed` or `not_found`: the provider said so. Check its status page and the inputs upstream sends; nothing to fix in jobcourier.
      3. `deadline_passed`: its jobs outlive their deadlines. Compare the duration tile with the deadline upstream submits; ask upstream for a longer `deadline_seconds`, then replay the jobs that still matter (`jobcourier replay PROVIDER JOB_ID`).
      4. `chain_lost`, `internal_error`, `infrastructure_unavailable`: jobcourier's side; see the alerts of those names.

      Runbook: docs/operations.md in the jobcourier repository, "A provider's jobs fail".
    EOT
  }
}

resource "google_monitoring_alert_policy" "chain_lost_or_internal_error" {
  project               = var.project_id
  display_name          = "jobcourier: jobs settled chain_lost or internal_error"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "job_settled with error_code chain_lost or internal_error"

    condition_threshold {
      filter                  = local.filters.settled_chain_or_error
      comparison              = "COMPARISON_GT"
      threshold_value         = 0
      duration                = "0s"
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.provider", "metric.label.error_code"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "jobcourier: $${metric.label.provider} jobs settled $${metric.label.error_code}"
    content   = <<-EOT
      At least one **$${metric.label.provider}** job settled with error code **$${metric.label.error_code}** in the last 5 minutes. Its consumers got a `timed_out` or `failed` manifest and no results.

      **What it means.**
      - `chain_lost`: the sweep (POST /sweep, every 15 minutes) found a job past its deadline with no manifest: its polling chain broke (a task deleted or never created, a queue purged, a crash between steps). jobcourier lost track of it; the provider may well have finished it.
      - `internal_error`: a bug. A check kept failing with an unexpected exception until the queue's last attempt, which settled the job as `failed`.

      **What to do.**
      1. Find the jobs: Logs Explorer, `jsonPayload.event="job_settled" AND jsonPayload.error_code="$${metric.label.error_code}" AND jsonPayload.provider="$${metric.label.provider}"`.
      2. For each, its whole story: `jsonPayload.job_id="JOB_ID" AND jsonPayload.provider="$${metric.label.provider}"`, and its ERROR lines (`severity>=ERROR`) for the stack trace of an `internal_error`.
      3. `chain_lost`: look for task creation errors and 5xx answers before it (queue logs: `resource.type="cloud_tasks_queue"`). `internal_error`: file the trace as a bug.
      4. When the cause is fixed, replay the jobs that still matter: `jobcourier replay PROVIDER JOB_ID` (results the provider still holds are fetched; those already stored are kept).

      Runbook: docs/operations.md in the jobcourier repository, "Jobs settled chain_lost or internal_error".
    EOT
  }
}

resource "google_monitoring_alert_policy" "provider_key_rejected" {
  project               = var.project_id
  display_name          = "jobcourier: a provider rejects our API key"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "provider_key_rejected logged"

    condition_threshold {
      filter                  = local.filters.keys_rejected
      comparison              = "COMPARISON_GT"
      threshold_value         = 0
      duration                = "0s"
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"

      # Rejected checks are retried every ten minutes: a 15-minute window keeps the incident
      # open while they go on, and lets it close once the key works.
      aggregations {
        alignment_period     = "900s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.provider"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "jobcourier: $${metric.label.provider} rejects our API key"
    content   = <<-EOT
      **$${metric.label.provider}** refused jobcourier's API key (401 or 403), or the function has no key for it.

      **What it means.** Every $${metric.label.provider} job is stuck: its checks are retried every ten minutes until its deadline, so no job is lost if the key works again before then. Past the deadline they settle `timed_out`.

      **What to do.**
      1. Logs Explorer: `jsonPayload.event="provider_key_rejected" AND jsonPayload.provider="$${metric.label.provider}"`: `http_status` null means no key is mounted (a secret with no version, or an empty one).
      2. Check the key in the provider's console (revoked, expired, out of credit), then add the right one as a new version of `jobcourier-$${metric.label.provider}-api-key` (docs/deploy.md, "Rotating a provider key").
      3. To use it at once, pin that version in `provider_key_versions` and apply: a new revision takes every request.
      4. The incident closes 15 minutes after the last rejection.

      Runbook: docs/operations.md in the jobcourier repository, "A provider rejects our API key".
    EOT
  }
}

resource "google_monitoring_alert_policy" "queue_backlog" {
  project               = var.project_id
  display_name          = "jobcourier: a poll queue is backing up"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "queue depth above ${var.queue_depth_threshold} for 30 minutes"

    condition_threshold {
      filter          = local.filters.queue_depth
      comparison      = "COMPARISON_GT"
      threshold_value = var.queue_depth_threshold
      duration        = "1800s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.queue_id"]
      }
    }
  }

  conditions {
    display_name = "p99 dispatch delay above ${var.queue_delay_threshold_seconds} s for 15 minutes"

    condition_threshold {
      filter          = local.filters.queue_dispatch_delays
      comparison      = "COMPARISON_GT"
      threshold_value = var.queue_delay_threshold_seconds * 1000 # the metric is in milliseconds
      duration        = "900s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_99"
        group_by_fields      = ["resource.label.queue_id"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "jobcourier: queue $${resource.label.queue_id} is backing up"
    content   = <<-EOT
      The poll queue **$${resource.label.queue_id}** has held more than ${var.queue_depth_threshold} tasks for 30 minutes, or its tasks have been dispatched more than ${var.queue_delay_threshold_seconds} s after their scheduled time for 15 minutes (Cloud Tasks publishes no oldest-task age; this is the age of the tasks that are due).

      **What it means.** A queue holds one task per job in flight, so depth alone grows with upstream's load. Dispatch delay means checks are late: the queue is paused, its rate limit is too low for the jobs in flight, or the function is refusing or failing dispatches (instances capped, 5xx), so retries pile up.

      **What to do.**
      1. `gcloud tasks queues describe $${resource.label.queue_id} --location ${var.location}`: `state` must be `RUNNING` (`gcloud tasks queues resume` if it was paused).
      2. Dashboard "jobcourier", last row: 5xx answers at the same time point at the function ("The functions answer 5xx").
      3. Many jobs in flight (`jobcourier list`) and a healthy function: the queue's rate limit is the ceiling. Raise `queue_rate_limits` only within the provider's documented limits (docs/deploy.md, "Queue pacing"), and keep `function_max_instances` above the queues' summed `max_concurrent_dispatches`.

      Runbook: docs/operations.md in the jobcourier repository, "A poll queue is backing up".
    EOT
  }
}

resource "google_monitoring_alert_policy" "server_errors" {
  project               = var.project_id
  display_name          = "jobcourier: the functions answer 5xx"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "more than ${var.server_errors_threshold} 5xx answers in 5 minutes"

    condition_threshold {
      filter                  = local.filters.server_errors
      comparison              = "COMPARISON_GT"
      threshold_value         = var.server_errors_threshold
      duration                = "0s"
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "jobcourier: $${resource.label.service_name} answers 5xx"
    content   = <<-EOT
      The Cloud Run service **$${resource.label.service_name}** (behind the function of that name) answered more than ${var.server_errors_threshold} requests with 5xx in 5 minutes.

      **What it means.**
      - `503` from the function: a transient Cloud Storage or Cloud Tasks error; it asked Cloud Tasks to retry. A few are normal; many mean an outage of either.
      - `500`: a configuration error (logged at ERROR as `configuration: ...`) or a bug (`internal error on ...`).
      - 5xx with no log line of the function (request logs only): the platform could not start or reach an instance, e.g. a secret with no version, a revision that fails to start, a timeout.

      **What to do.**
      1. Logs Explorer: `resource.type="cloud_run_revision" AND resource.labels.service_name="$${resource.label.service_name}" AND (severity>=ERROR OR httpRequest.status>=500)`.
      2. A deployment just before? Roll back by applying the previous commit; a missing secret version: add it (docs/deploy.md).
      3. Poll tasks that failed are retried by their queue, and the last attempt settles the job (`infrastructure_unavailable` or `internal_error`), so no job is dropped; replay those once fixed.

      Runbook: docs/operations.md in the jobcourier repository, "The functions answer 5xx".
    EOT
  }
}

resource "google_monitoring_alert_policy" "nothing_settles" {
  project               = var.project_id
  display_name          = "jobcourier: no job settled for ${var.stalled_after_hours} hours while jobs are in flight"
  combiner              = "AND"
  severity              = "CRITICAL"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "no job_settled for ${var.stalled_after_hours} hours"

    condition_absent {
      filter   = local.filters.settled
      duration = "${var.stalled_after_hours * 3600}s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  conditions {
    display_name = "poll tasks queued all along (jobs in flight)"

    condition_threshold {
      filter          = local.filters.queue_depth
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "${var.stalled_after_hours * 3600}s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_MIN"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "jobcourier: nothing settled for ${var.stalled_after_hours} hours"
    content   = <<-EOT
      No job has settled for ${var.stalled_after_hours} hours, while poll tasks stayed queued the whole time: jobs are in flight and none finishes.

      **What it means.** Every job has a deadline, and the sweep settles the ones whose chain broke, so some job should have settled by now. Something stops all of them: the function fails every check (see "The functions answer 5xx"), a provider rejects our key ("A provider rejects our API key"), the queues are paused, or the sweep job no longer runs. Or upstream submits deadlines longer than ${var.stalled_after_hours} hours (then raise `stalled_after_hours`).

      **What to do.**
      1. Are checks happening? Logs Explorer: `jsonPayload.event="job_checked"` over the last hour, grouped by `jsonPayload.outcome` and `jsonPayload.status`.
      2. What is in flight: `jobcourier list` (each job's checks, last status and next check).
      3. Queues: `gcloud tasks queues list --location ${var.location}` (all `RUNNING`?). Sweep: `gcloud scheduler jobs list --location ${var.location}` (the sweep job enabled, its last attempt a success?).
      4. Fix the cause; jobs past their deadline are settled by the next sweep, and can be replayed.

      This alert arms itself after the first job settles (an absence needs a series that existed).

      Runbook: docs/operations.md in the jobcourier repository, "Nothing settles".
    EOT
  }
}

# ---------------------------------------------------------------------------------------------
# Dashboard: the same signals, laid out as docs/operations.md draws it
# ---------------------------------------------------------------------------------------------

resource "google_monitoring_dashboard" "jobcourier" {
  project = var.project_id
  dashboard_json = templatefile("${path.module}/dashboards/jobcourier.json.tftpl", {
    display_name  = var.metric_prefix
    filters       = local.filters
    window        = "${var.provider_failure_window_seconds}s"
    failure_ratio = var.provider_failure_ratio
  })
}
