output "function_name" {
  description = "Name of the main (private) function (and of its Cloud Run service)."
  value       = module.main_function.name
}

output "function_url" {
  description = "The function's base URL (JOBCOURIER_SELF_URL): the target of poll tasks and of upstream calls."
  value       = local.function_url
}

output "function_uri" {
  description = "The function's Cloud Run (run.app) URI, as reported by the API."
  value       = module.main_function.uri
}

output "webhook_function_name" {
  description = "Name of the public webhook function (and of its Cloud Run service)."
  value       = module.webhook_function.name
}

output "webhook_url" {
  description = "Base URL of the public webhook function; it serves only POST /webhooks/{provider}?token=TOKEN."
  value       = module.webhook_function.url
}

output "webhook_callback_urls" {
  description = "Callback URL to give each provider that calls back, with <token> standing for the value of the webhook token secret (never output here: it lives in Secret Manager only)."
  value       = { for p in local.webhook_providers : p => "${module.webhook_function.url}/webhooks/${p}?token=<token>" }
}

output "webhook_token_secret" {
  description = "Secret ID of the webhook token (JOBCOURIER_WEBHOOK_TOKEN): add a version to it (docs/deploy.md, \"Webhooks\")."
  value       = google_secret_manager_secret.webhook_token.secret_id
}

output "callback_secret" {
  description = "Secret ID of the key that signs callbacks (JOBCOURIER_CALLBACK_SECRET, main function only): add a version to it (docs/deploy.md, \"Callback signing secret\")."
  value       = google_secret_manager_secret.callback_secret.secret_id
}

output "results_bucket" {
  description = "Results bucket name (JOBCOURIER_BUCKET)."
  value       = module.results_bucket.name
}

output "notification_topic" {
  description = "Pub/Sub topic receiving the results bucket's OBJECT_FINALIZE notifications; consumers keep objectIds ending in /manifest.json."
  value       = module.results_bucket.topic_id
}

output "queues" {
  description = "Full queue names by route: default (JOBCOURIER_QUEUE) and each provider (JOBCOURIER_QUEUE_<PROVIDER>)."
  value       = { for k, q in module.poll_queue : k => q.id }
}

output "runtime_service_account" {
  description = "Email of the function's runtime service account."
  value       = google_service_account.runtime.email
}

output "invoker_service_account" {
  description = "Email of the poll tasks' OIDC service account (JOBCOURIER_INVOKER_SA)."
  value       = google_service_account.invoker.email
}

output "build_service_account" {
  description = "Email of the service account that builds the function's image."
  value       = google_service_account.build.email
}

output "provider_key_secrets" {
  description = "Secret IDs of the provider API keys, by provider: add versions to these (docs/deploy.md)."
  value       = { for p, s in google_secret_manager_secret.provider_key : p => s.secret_id }
}

output "source_object" {
  description = "gs:// URI of the deployed source archive."
  value       = "gs://${google_storage_bucket.source.name}/${google_storage_bucket_object.source.name}"
}

output "sweep_job" {
  description = "Full name of the Cloud Scheduler job that calls POST /sweep (run it now: gcloud scheduler jobs run NAME --location REGION)."
  value       = google_cloud_scheduler_job.sweep.id
}

output "metric_types" {
  description = "Metric types of jobcourier's log-based metrics, by name (docs/operations.md, \"Metrics\")."
  value       = module.monitoring.metric_types
}

output "dashboard" {
  description = "ID of the jobcourier dashboard (Cloud Monitoring, Dashboards)."
  value       = module.monitoring.dashboard_id
}
