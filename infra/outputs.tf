output "function_name" {
  description = "Name of the function (and of its Cloud Run service)."
  value       = google_cloudfunctions2_function.jobcourier.name
}

output "function_url" {
  description = "The function's base URL (JOBCOURIER_SELF_URL): the target of poll tasks and of upstream calls."
  value       = local.function_url
}

output "function_uri" {
  description = "The function's Cloud Run (run.app) URI, as reported by the API."
  value       = google_cloudfunctions2_function.jobcourier.service_config[0].uri
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
