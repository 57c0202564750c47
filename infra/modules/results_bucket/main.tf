resource "google_storage_bucket" "results" {
  #checkov:skip=CKV_GCP_62:Access is recorded by Cloud Audit Logs (enable Data Access logs for storage.googleapis.com, see docs/deploy.md); legacy usage-log buckets add a second, unaudited copy.
  #checkov:skip=CKV_GCP_78:Soft delete (soft_delete_policy below) keeps every deleted or overwritten object restorable; result objects are written once with if_generation_match=0, so versioning would only pile up copies of the function's own bookkeeping objects.
  project                     = var.project_id
  name                        = var.name
  location                    = var.location
  labels                      = var.labels
  force_destroy               = var.force_destroy
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  soft_delete_policy {
    retention_duration_seconds = var.soft_delete_retention_seconds
  }

  dynamic "lifecycle_rule" {
    for_each = var.lifecycle_rules
    content {
      action {
        type          = lifecycle_rule.value.action.type
        storage_class = lifecycle_rule.value.action.storage_class
      }
      condition {
        age                        = lifecycle_rule.value.condition.age
        matches_prefix             = lifecycle_rule.value.condition.matches_prefix
        matches_suffix             = lifecycle_rule.value.condition.matches_suffix
        with_state                 = lifecycle_rule.value.condition.with_state
        num_newer_versions         = lifecycle_rule.value.condition.num_newer_versions
        days_since_noncurrent_time = lifecycle_rule.value.condition.days_since_noncurrent_time
      }
    }
  }
}

resource "google_storage_bucket_iam_member" "writer" {
  for_each = var.writers

  bucket = google_storage_bucket.results.name
  role   = var.object_writer_role
  member = each.value
}

resource "google_storage_bucket_iam_member" "reader" {
  for_each = toset(var.readers)

  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectViewer"
  member = each.value
}

# Notifications: every OBJECT_FINALIZE in the bucket. GCS can filter by prefix only, not by
# suffix, so consumers keep the messages whose objectId ends in "/manifest.json" (docs/deploy.md).
resource "google_pubsub_topic" "notifications" {
  #checkov:skip=CKV_GCP_83:Messages carry object metadata only (names, sizes, checksums), no result content; Google-managed encryption is enough and a CMEK would add a key the team must run.
  project                    = var.project_id
  name                       = var.topic_name
  labels                     = var.labels
  message_retention_duration = "604800s"
}

data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

# The Cloud Storage service agent publishes the notifications: publisher on this topic only.
resource "google_pubsub_topic_iam_member" "gcs_publisher" {
  project = google_pubsub_topic.notifications.project
  topic   = google_pubsub_topic.notifications.name
  role    = "roles/pubsub.publisher"
  member  = data.google_storage_project_service_account.gcs.member
}

resource "google_pubsub_topic_iam_member" "subscriber" {
  for_each = toset(var.subscribers)

  project = google_pubsub_topic.notifications.project
  topic   = google_pubsub_topic.notifications.name
  role    = "roles/pubsub.subscriber"
  member  = each.value
}

resource "google_storage_notification" "finalize" {
  bucket         = google_storage_bucket.results.name
  topic          = google_pubsub_topic.notifications.id
  payload_format = "JSON_API_V1"
  event_types    = ["OBJECT_FINALIZE"]
  custom_attributes = {
    "jobcourier-bucket" = google_storage_bucket.results.name
  }

  depends_on = [google_pubsub_topic_iam_member.gcs_publisher]
}
