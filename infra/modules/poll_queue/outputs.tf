output "id" {
  description = "Full queue name, projects/P/locations/L/queues/Q: the value the function reads from JOBCOURIER_QUEUE and JOBCOURIER_QUEUE_<PROVIDER>."
  value = format(
    "projects/%s/locations/%s/queues/%s",
    google_cloud_tasks_queue.queue.project,
    google_cloud_tasks_queue.queue.location,
    google_cloud_tasks_queue.queue.name,
  )
}

output "name" {
  description = "Queue ID."
  value       = google_cloud_tasks_queue.queue.name
}
