resource "google_cloud_tasks_queue" "queue" {
  project  = var.project_id
  location = var.location
  name     = var.name

  rate_limits {
    max_dispatches_per_second = var.rate_limits.max_dispatches_per_second
    max_concurrent_dispatches = var.rate_limits.max_concurrent_dispatches
  }

  retry_config {
    min_backoff        = var.retry_config.min_backoff
    max_backoff        = var.retry_config.max_backoff
    max_doublings      = var.retry_config.max_doublings
    max_attempts       = var.retry_config.max_attempts
    max_retry_duration = var.retry_config.max_retry_duration
  }

  stackdriver_logging_config {
    sampling_ratio = var.log_sampling_ratio
  }
}

# Enqueue on this queue only: creating a task needs cloudtasks.tasks.create on the queue.
resource "google_cloud_tasks_queue_iam_member" "enqueuer" {
  for_each = var.enqueuers

  project  = google_cloud_tasks_queue.queue.project
  location = google_cloud_tasks_queue.queue.location
  name     = google_cloud_tasks_queue.queue.name
  role     = "roles/cloudtasks.enqueuer"
  member   = each.value
}

# Read this queue's tasks (GET /jobs?state=pending joins them with the jobs in flight):
# cloudtasks.tasks.list on this queue only.
resource "google_cloud_tasks_queue_iam_member" "viewer" {
  for_each = var.viewers

  project  = google_cloud_tasks_queue.queue.project
  location = google_cloud_tasks_queue.queue.location
  name     = google_cloud_tasks_queue.queue.name
  role     = "roles/cloudtasks.viewer"
  member   = each.value
}
