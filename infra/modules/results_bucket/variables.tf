variable "project_id" {
  type        = string
  description = "Project that holds the bucket and the notification topic."
}

variable "name" {
  type        = string
  description = "Globally unique name of the results bucket."
}

variable "location" {
  type        = string
  description = "Bucket location: a region (e.g. europe-west1, beside the function) or a multi-region."
}

variable "labels" {
  type        = map(string)
  description = "Labels set on the bucket and the topic."
  default     = {}
}

variable "lifecycle_rules" {
  type = list(object({
    action = object({
      type          = string
      storage_class = optional(string)
    })
    condition = object({
      age                        = optional(number)
      matches_prefix             = optional(list(string))
      matches_suffix             = optional(list(string))
      with_state                 = optional(string)
      num_newer_versions         = optional(number)
      days_since_noncurrent_time = optional(number)
    })
  }))
  description = "Object lifecycle rules (Delete or SetStorageClass). Empty keeps every result forever."
  default     = []

  validation {
    condition     = alltrue([for r in var.lifecycle_rules : contains(["Delete", "SetStorageClass", "AbortIncompleteMultipartUpload"], r.action.type)])
    error_message = "A lifecycle action type is Delete, SetStorageClass or AbortIncompleteMultipartUpload."
  }
}

variable "soft_delete_retention_seconds" {
  type        = number
  description = "How long deleted or overwritten objects stay restorable (0 disables soft delete; otherwise 7 to 90 days)."
  default     = 604800

  validation {
    condition     = var.soft_delete_retention_seconds == 0 || (var.soft_delete_retention_seconds >= 604800 && var.soft_delete_retention_seconds <= 7776000)
    error_message = "soft_delete_retention_seconds is 0 or between 604800 (7 days) and 7776000 (90 days)."
  }
}

variable "force_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete a bucket that still holds results. Keep false outside throwaway environments."
  default     = false
}

variable "object_writer_role" {
  type        = string
  description = "Role (full name, e.g. projects/P/roles/jobcourierResultsWriter) granted on this bucket to the writers."
}

variable "writers" {
  type        = map(string)
  description = "Principals that write results (object_writer_role on this bucket), keyed by a static label."
  default     = {}
}

variable "readers" {
  type        = list(string)
  description = "Principals that read results (roles/storage.objectViewer on this bucket), e.g. group:results-consumers@example.com."
  default     = []
}

variable "topic_name" {
  type        = string
  description = "Pub/Sub topic that receives OBJECT_FINALIZE notifications for the bucket."
}

variable "subscribers" {
  type        = list(string)
  description = "Principals that may attach subscriptions to the topic and pull from them (roles/pubsub.subscriber on the topic)."
  default     = []
}
