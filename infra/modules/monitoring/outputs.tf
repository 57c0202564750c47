output "metric_types" {
  description = "Metric types of the log-based metrics, by name (logging.googleapis.com/user/PREFIX/...), for charts and alerts of your own."
  value = {
    for name, metric in {
      jobs_settled           = google_logging_metric.jobs_settled
      job_checks             = google_logging_metric.job_checks
      job_duration           = google_logging_metric.job_duration
      provider_keys_rejected = google_logging_metric.provider_keys_rejected
      statuses_unrecognised  = google_logging_metric.statuses_unrecognised
      callbacks_given_up     = google_logging_metric.callbacks_given_up
    } : name => "${local.user_metric}/${metric.name}"
  }
}

output "alert_policies" {
  description = "Alert policy names (projects/P/alertPolicies/ID), by what they watch."
  value = {
    provider_failure_ratio       = google_monitoring_alert_policy.provider_failure_ratio.name
    chain_lost_or_internal_error = google_monitoring_alert_policy.chain_lost_or_internal_error.name
    provider_key_rejected        = google_monitoring_alert_policy.provider_key_rejected.name
    queue_backlog                = google_monitoring_alert_policy.queue_backlog.name
    server_errors                = google_monitoring_alert_policy.server_errors.name
    nothing_settles              = google_monitoring_alert_policy.nothing_settles.name
  }
}

output "dashboard_id" {
  description = "ID of the dashboard (projects/P/dashboards/ID)."
  value       = google_monitoring_dashboard.jobcourier.id
}
