variable "project_id" {
  type        = string
  description = "Project that holds the queue."
}

variable "location" {
  type        = string
  description = "Cloud Tasks location (region) of the queue; the same region as the function."
}

variable "name" {
  type        = string
  description = "Queue ID (the last segment of projects/P/locations/L/queues/Q)."

  validation {
    condition     = can(regex("^[A-Za-z0-9-]{1,100}$", var.name))
    error_message = "A queue ID holds 1 to 100 letters, digits or hyphens."
  }
}

variable "rate_limits" {
  type = object({
    max_dispatches_per_second = number
    max_concurrent_dispatches = number
  })
  description = "Dispatch pacing across every task in the queue: this is what holds a provider's rate limit across all in-flight jobs."

  validation {
    condition     = var.rate_limits.max_dispatches_per_second > 0 && var.rate_limits.max_dispatches_per_second <= 500
    error_message = "max_dispatches_per_second must be in (0, 500]."
  }

  validation {
    condition     = var.rate_limits.max_concurrent_dispatches >= 1 && var.rate_limits.max_concurrent_dispatches <= 5000
    error_message = "max_concurrent_dispatches must be in [1, 5000]."
  }
}

variable "retry_config" {
  type = object({
    min_backoff        = string
    max_backoff        = string
    max_doublings      = number
    max_attempts       = number
    max_retry_duration = string
  })
  description = "Retries of a task whose invocation answered non-2xx or timed out (the safety net; normal pacing is the task's schedule_time). Durations are strings such as \"10s\"."

  validation {
    condition     = var.retry_config.max_attempts >= 1 && var.retry_config.max_attempts <= 100
    error_message = "max_attempts must be bounded: between 1 and 100 (-1, unlimited, is refused on purpose)."
  }

  validation {
    condition = alltrue([
      for d in [var.retry_config.min_backoff, var.retry_config.max_backoff, var.retry_config.max_retry_duration] :
      can(regex("^[0-9]+(\\.[0-9]+)?s$", d))
    ])
    error_message = "min_backoff, max_backoff and max_retry_duration are durations in seconds, such as \"30s\"."
  }
}

variable "log_sampling_ratio" {
  type        = number
  description = "Fraction of task operations logged to Cloud Logging (0 to 1)."
  default     = 1.0

  validation {
    condition     = var.log_sampling_ratio >= 0 && var.log_sampling_ratio <= 1
    error_message = "log_sampling_ratio must be between 0 and 1."
  }
}

variable "enqueuers" {
  type        = map(string)
  description = "Principals that may create tasks in this queue (roles/cloudtasks.enqueuer on this queue only), keyed by a static label so that members unknown until apply still plan."
  default     = {}
}

variable "viewers" {
  type        = map(string)
  description = "Principals that may list this queue's tasks (roles/cloudtasks.viewer on this queue only), keyed by a static label."
  default     = {}
}
