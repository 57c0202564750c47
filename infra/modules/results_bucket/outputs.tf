output "name" {
  description = "Results bucket name (JOBCOURIER_BUCKET)."
  value       = google_storage_bucket.results.name
}

output "url" {
  description = "gs:// URL of the results bucket."
  value       = google_storage_bucket.results.url
}

output "topic_id" {
  description = "Pub/Sub topic receiving OBJECT_FINALIZE notifications (projects/P/topics/T)."
  value       = google_pubsub_topic.notifications.id
}

output "notification_id" {
  description = "ID of the bucket notification."
  value       = google_storage_notification.finalize.notification_id
}
