variable "project_id" {
  type        = string
  description = "Project that holds every resource of the deployment."
}

variable "region" {
  type        = string
  description = "Region of the function, the Cloud Tasks queues, the Artifact Registry repository and (by default) the buckets, e.g. europe-west1."
}

variable "function_name" {
  type        = string
  description = "Name of the Cloud Functions (2nd gen) function and of its Cloud Run service."
  default     = "jobcourier"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,48}[a-z0-9]$", var.function_name))
    error_message = "A function name is lower-case letters, digits and hyphens, starts with a letter, 2 to 50 characters."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels set on every resource that takes labels."
  default     = {}
}

# ---------------------------------------------------------------------------------------------
# The function
# ---------------------------------------------------------------------------------------------

variable "function_timeout_seconds" {
  type        = number
  description = "Longest invocation (one status check plus, when the job is done, streaming its result files into the bucket). Poll tasks' dispatch_deadline (530 s) sits below it, and the function's own cutoffs (5 min to start a copy, 8 min to finish one) end every invocation before either."
  default     = 540

  validation {
    condition     = var.function_timeout_seconds >= 60 && var.function_timeout_seconds <= 1800
    error_message = "function_timeout_seconds must be between 60 and 1800 (the longest dispatch_deadline Cloud Tasks allows)."
  }
}

variable "function_memory" {
  type        = string
  description = "Memory of each instance. One request per instance, so this bounds one streaming copy: upload chunks plus the Python runtime and clients."
  default     = "1Gi"
}

variable "function_max_instances" {
  type        = number
  description = "Ceiling on instances (each serves one request at a time). Keep it above the sum of the queues' max_concurrent_dispatches (100 by default) so that submissions and operators' calls still find an instance; a poll task refused for lack of instances spends one of its retries."
  default     = 150
}

variable "ingress_settings" {
  type        = string
  description = "Network ingress of the main function. Authentication is enforced by IAM whatever this says (no allUsers binding exists on it); ALLOW_ALL lets upstream jobs and Cloud Build reach it from outside a VPC."
  default     = "ALLOW_ALL"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.ingress_settings)
    error_message = "ingress_settings is ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "invoker_members" {
  type        = list(string)
  description = "Principals allowed to call the function besides the poll-task invoker account: upstream jobs' service accounts, operators' groups, the Cloud Build service account (for the smoke check). roles/run.invoker on this function's service only."
  default     = []

  validation {
    condition     = alltrue([for m in var.invoker_members : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "The function never allows unauthenticated or any-Google-account invocation."
  }
}

# ---------------------------------------------------------------------------------------------
# The webhook function: the same source, public, serving only POST /webhooks/{provider}
# ---------------------------------------------------------------------------------------------

variable "webhook_function_name" {
  type        = string
  description = "Name of the public webhook function (and of its Cloud Run service). It runs the same source with JOBCOURIER_WEBHOOKS_ONLY=1, so it serves only POST /webhooks/{provider}; must differ from function_name."
  default     = "jobcourier-webhooks"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,48}[a-z0-9]$", var.webhook_function_name))
    error_message = "A function name is lower-case letters, digits and hyphens, starts with a letter, 2 to 50 characters."
  }
}

variable "webhook_function_timeout_seconds" {
  type        = number
  description = "Longest webhook invocation: two object reads, at most one create-only write and one task creation."
  default     = 60

  validation {
    condition     = var.webhook_function_timeout_seconds >= 10 && var.webhook_function_timeout_seconds <= 300
    error_message = "webhook_function_timeout_seconds must be between 10 and 300."
  }
}

variable "webhook_function_memory" {
  type        = string
  description = "Memory of each webhook instance (no download ever runs there)."
  default     = "256Mi"
}

variable "webhook_function_max_instances" {
  type        = number
  description = "Ceiling on webhook instances (one request each). The endpoint is public: this also bounds what a flood of requests can cost. A callback refused for lack of an instance only leaves its job to polling."
  default     = 10

  validation {
    condition     = var.webhook_function_max_instances >= 1 && var.webhook_function_max_instances <= 100
    error_message = "webhook_function_max_instances must be between 1 and 100."
  }
}

variable "webhook_secret_version" {
  type        = string
  description = "Secret version the webhook function reads its shared webhook token from (JOBCOURIER_WEBHOOK_TOKEN): \"latest\" or a version number (pinned; changing it rolls out a new revision). See docs/deploy.md, \"Webhooks\"."
  default     = "latest"

  validation {
    condition     = var.webhook_secret_version == "latest" || can(regex("^[1-9][0-9]*$", var.webhook_secret_version))
    error_message = "webhook_secret_version is \"latest\" or a version number."
  }
}

variable "artifact_repository_id" {
  type        = string
  description = "Artifact Registry (Docker) repository that holds the function's built images."
  default     = "jobcourier-functions"
}

variable "artifact_keep_count" {
  type        = number
  description = "Most recent function images kept in the Artifact Registry repository; older ones are cleaned up."
  default     = 10
}

variable "source_bucket_name" {
  type        = string
  description = "Name of the bucket holding the zipped function source. Null means \"<project_id>-jobcourier-source\"."
  default     = null
}

# ---------------------------------------------------------------------------------------------
# The sweep: Cloud Scheduler calls POST /sweep
# ---------------------------------------------------------------------------------------------

variable "sweep_schedule" {
  type        = string
  description = "When Cloud Scheduler calls POST /sweep on the main function (unix-cron, UTC), which settles as timed_out every job whose deadline passed more than the grace ago without a manifest (a lost polling chain). Every 15 minutes by default."
  default     = "*/15 * * * *"

  validation {
    condition     = can(regex("^\\S+( \\S+){4}$", var.sweep_schedule))
    error_message = "sweep_schedule is a unix-cron expression of five fields, such as \"*/15 * * * *\"."
  }
}

# ---------------------------------------------------------------------------------------------
# Monitoring: alert policies and their thresholds (docs/operations.md)
# ---------------------------------------------------------------------------------------------

variable "notification_channels" {
  type        = list(string)
  description = "Cloud Monitoring notification channels every alert policy notifies, as IDs (projects/P/notificationChannels/N: `gcloud beta monitoring channels list`). Empty: incidents show in the console only."
  default     = []
}

variable "alert_provider_failure_ratio" {
  type        = number
  description = "Alert when more than this fraction of one provider's settled jobs ended failed or timed_out within alert_provider_failure_window_seconds."
  default     = 0.25
}

variable "alert_provider_failure_window_seconds" {
  type        = number
  description = "Window of the provider failure ratio, in seconds (whole minutes, 300 to 86400)."
  default     = 3600
}

variable "alert_stalled_after_hours" {
  type        = number
  description = "Alert when no job settled for this many hours while poll tasks stayed queued (1 to 23). Keep it above the longest deadline upstream submits plus an hour."
  default     = 6
}

variable "alert_queue_depth_threshold" {
  type        = number
  description = "Alert when a poll queue holds more tasks than this for 30 minutes (about one task per job in flight)."
  default     = 1000
}

variable "alert_queue_delay_threshold_seconds" {
  type        = number
  description = "Alert when a poll queue's p99 dispatch delay (how long due tasks wait) stays above this for 15 minutes."
  default     = 300
}

variable "alert_server_errors_threshold" {
  type        = number
  description = "Alert when a function's service answers more than this many 5xx in 5 minutes."
  default     = 5
}

# ---------------------------------------------------------------------------------------------
# Identities
# ---------------------------------------------------------------------------------------------

variable "runtime_service_account_id" {
  type        = string
  description = "Account ID of the function's runtime service account."
  default     = "jobcourier-runtime"
}

variable "invoker_service_account_id" {
  type        = string
  description = "Account ID of the service account whose OIDC token the poll tasks carry (JOBCOURIER_INVOKER_SA)."
  default     = "jobcourier-invoker"
}

variable "build_service_account_id" {
  type        = string
  description = "Account ID of the service account that builds the function's image."
  default     = "jobcourier-build"
}

variable "results_writer_role_id" {
  type        = string
  description = "ID of the project custom role holding exactly the object permissions the function uses on the results bucket."
  default     = "jobcourierResultsWriter"
}

# ---------------------------------------------------------------------------------------------
# Results bucket and notifications
# ---------------------------------------------------------------------------------------------

variable "results_bucket_name" {
  type        = string
  description = "Name of the results bucket (JOBCOURIER_BUCKET). Null means \"<project_id>-jobcourier-results\"."
  default     = null
}

variable "results_bucket_location" {
  type        = string
  description = "Location of the results bucket. Null means the region."
  default     = null
}

variable "results_lifecycle_rules" {
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
  description = "Lifecycle rules of the results bucket. Empty keeps every result forever; see terraform.tfvars.example."
  default     = []
}

variable "results_soft_delete_retention_seconds" {
  type        = number
  description = "How long deleted or overwritten objects in the results bucket stay restorable (7 to 90 days, or 0)."
  default     = 604800
}

variable "results_force_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete the results bucket while it still holds results."
  default     = false
}

variable "results_readers" {
  type        = list(string)
  description = "Consumers that read results (roles/storage.objectViewer on the results bucket only)."
  default     = []
}

variable "notification_topic_name" {
  type        = string
  description = "Pub/Sub topic that receives the results bucket's OBJECT_FINALIZE notifications."
  default     = "jobcourier-results"
}

variable "notification_subscribers" {
  type        = list(string)
  description = "Consumers that attach their own subscriptions to the notification topic (roles/pubsub.subscriber on the topic only)."
  default     = []
}

# ---------------------------------------------------------------------------------------------
# Poll queues: one default, one per provider
# ---------------------------------------------------------------------------------------------

variable "queue_names" {
  type = object({
    default   = string
    spacely   = string
    gepetto   = string
    sellerpic = string
    fliki     = string
  })
  description = "Queue IDs: the default poll queue (JOBCOURIER_QUEUE) and one per provider (JOBCOURIER_QUEUE_<PROVIDER>). A deleted queue's ID cannot be reused for about 7 days."
  default = {
    default   = "jobcourier-poll"
    spacely   = "jobcourier-spacely"
    gepetto   = "jobcourier-gepetto"
    sellerpic = "jobcourier-sellerpic"
    fliki     = "jobcourier-fliki"
  }
}

variable "queue_rate_limits" {
  type = object({
    default   = object({ max_dispatches_per_second = number, max_concurrent_dispatches = number })
    spacely   = object({ max_dispatches_per_second = number, max_concurrent_dispatches = number })
    gepetto   = object({ max_dispatches_per_second = number, max_concurrent_dispatches = number })
    sellerpic = object({ max_dispatches_per_second = number, max_concurrent_dispatches = number })
    fliki     = object({ max_dispatches_per_second = number, max_concurrent_dispatches = number })
  })
  description = "Dispatch pacing per queue, across every in-flight job of that provider. Each dispatch is one status check (retries included). Defaults follow the providers' documented limits with margin; see docs/deploy.md."
  default = {
    # Providers without a queue of their own: conservative until their limits are known.
    default = { max_dispatches_per_second = 1, max_concurrent_dispatches = 10 }
    # Spacely blocks the account above 100 calls/s (a lockout, not a 429): stay at a fifth of it.
    spacely = { max_dispatches_per_second = 20, max_concurrent_dispatches = 50 }
    # Gepetto allows 120 calls/min = 2/s per user; 1.5/s leaves a quarter for the upstream's own calls.
    gepetto = { max_dispatches_per_second = 1.5, max_concurrent_dispatches = 20 }
    # SellerPic runs at most 10 tasks at once per account and wants checks >= 60 s apart per task
    # (the spacing is the function's schedule_time and the retry min_backoff below).
    sellerpic = { max_dispatches_per_second = 0.5, max_concurrent_dispatches = 10 }
    # Fliki demands exponential backoff (the function's schedule and the retry doublings below);
    # its outputs are large videos, so few copies run at once.
    fliki = { max_dispatches_per_second = 1, max_concurrent_dispatches = 10 }
  }
}

variable "queue_retry_configs" {
  type = object({
    default   = object({ min_backoff = string, max_backoff = string, max_doublings = number, max_attempts = number, max_retry_duration = string })
    spacely   = object({ min_backoff = string, max_backoff = string, max_doublings = number, max_attempts = number, max_retry_duration = string })
    gepetto   = object({ min_backoff = string, max_backoff = string, max_doublings = number, max_attempts = number, max_retry_duration = string })
    sellerpic = object({ min_backoff = string, max_backoff = string, max_doublings = number, max_attempts = number, max_retry_duration = string })
    fliki     = object({ min_backoff = string, max_backoff = string, max_doublings = number, max_attempts = number, max_retry_duration = string })
  })
  description = "Retry policy per queue, the safety net for invocations that answer non-2xx or time out. Attempts are bounded; the function should settle a job with a failed manifest on a task's last attempt (X-CloudTasks-TaskRetryCount)."
  default = {
    default   = { min_backoff = "10s", max_backoff = "600s", max_doublings = 5, max_attempts = 12, max_retry_duration = "0s" }
    spacely   = { min_backoff = "10s", max_backoff = "600s", max_doublings = 5, max_attempts = 12, max_retry_duration = "0s" }
    gepetto   = { min_backoff = "30s", max_backoff = "600s", max_doublings = 4, max_attempts = 12, max_retry_duration = "0s" }
    sellerpic = { min_backoff = "60s", max_backoff = "900s", max_doublings = 4, max_attempts = 12, max_retry_duration = "0s" }
    fliki     = { min_backoff = "30s", max_backoff = "900s", max_doublings = 5, max_attempts = 12, max_retry_duration = "0s" }
  }
}

variable "queue_log_sampling_ratio" {
  type        = number
  description = "Fraction of task operations each queue logs to Cloud Logging (0 to 1)."
  default     = 1.0
}

# ---------------------------------------------------------------------------------------------
# Provider API keys (Secret Manager): Terraform creates the secrets, never their values
# ---------------------------------------------------------------------------------------------

variable "secret_id_prefix" {
  type        = string
  description = "Prefix of the secret IDs; the secrets are <prefix><provider>-api-key, <prefix>callback-secret and <prefix>webhook-token."
  default     = "jobcourier-"
}

variable "provider_key_versions" {
  type = object({
    spacely   = string
    gepetto   = string
    sellerpic = string
    fliki     = string
  })
  description = "Secret version each provider key is read from: \"latest\" (new instances pick up a new version when they start) or a version number (pinned; changing it rolls out a new revision). See docs/deploy.md, key rotation."
  default = {
    spacely   = "latest"
    gepetto   = "latest"
    sellerpic = "latest"
    fliki     = "latest"
  }

  validation {
    condition     = alltrue([for v in values(var.provider_key_versions) : v == "latest" || can(regex("^[1-9][0-9]*$", v))])
    error_message = "A key version is \"latest\" or a version number."
  }
}

variable "callback_secret_version" {
  type        = string
  description = "Secret version the main function reads the key that signs its callbacks from (JOBCOURIER_CALLBACK_SECRET): \"latest\" or a version number (pinned; changing it rolls out a new revision). See docs/deploy.md, \"Callback signing secret\"."
  default     = "latest"

  validation {
    condition     = var.callback_secret_version == "latest" || can(regex("^[1-9][0-9]*$", var.callback_secret_version))
    error_message = "callback_secret_version is \"latest\" or a version number."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to destroy the secrets (provider keys, callback signing secret, webhook token). Set false (and apply) before `terraform destroy`."
  default     = true
}
