output "name" {
  description = "Name of the function (and of its Cloud Run service)."
  value       = google_cloudfunctions2_function.function.name
}

output "id" {
  description = "Full ID of the function, projects/P/locations/L/functions/F."
  value       = google_cloudfunctions2_function.function.id
}

output "service" {
  description = "Name of the Cloud Run service behind the function: grant run.invoker on it."
  value       = google_cloudfunctions2_function.function.service_config[0].service
}

output "url" {
  description = "The function's cloudfunctions.net URL, as reported by the API."
  value       = google_cloudfunctions2_function.function.url
}

output "uri" {
  description = "The function's Cloud Run (run.app) URI, as reported by the API."
  value       = google_cloudfunctions2_function.function.service_config[0].uri
}
