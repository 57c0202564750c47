variable "project_id" {
  type        = string
  description = "Project that holds the functions, the queues and their logs and metrics; the metrics, alert policies and dashboard are created in it."
}

variable "metric_prefix" {
  type        = string
  description = "First part of the log-based metrics' names (PREFIX/jobs_settled...; their types are logging.googleapis.com/user/PREFIX/...). Distinct per deployment sharing a project."

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,50}$", var.metric_prefix))
    error_message = "metric_prefix is 1 to 50 letters, digits, hyphens or underscores."
  }
}

variable "service_names" {
  type        = list(string)
  description = "Cloud Run services of the functions (the services behind 2nd gen functions), whose log lines the metrics count and whose 5xx answers alert."

  validation {
    condition     = length(var.service_names) > 0
    error_message = "Give at least one service."
  }
}

variable "location" {
  type        = string
  description = "Region of the Cloud Tasks queues."
}

variable "queue_ids" {
  type        = list(string)
  description = "IDs of the poll queues (the last segment of projects/P/locations/L/queues/Q) whose depth and dispatch delay are watched."

  validation {
    condition     = length(var.queue_ids) > 0
    error_message = "Give at least one queue."
  }
}

variable "notification_channels" {
  type        = list(string)
  description = "Notification channels every alert policy notifies, as IDs (projects/P/notificationChannels/N). Empty: incidents open in the console only."
  default     = []
}

variable "labels" {
  type        = map(string)
  description = "User labels set on every alert policy."
  default     = {}
}

variable "provider_failure_ratio" {
  type        = number
  description = "Alert when more than this fraction of a provider's settled jobs ended failed or timed_out within provider_failure_window_seconds."
  default     = 0.25

  validation {
    condition     = var.provider_failure_ratio > 0 && var.provider_failure_ratio <= 1
    error_message = "provider_failure_ratio is a fraction in (0, 1]."
  }
}

variable "provider_failure_window_seconds" {
  type        = number
  description = "Window over which a provider's failure ratio is computed. Longer windows count more jobs per ratio (fewer alerts on one unlucky job) and react later."
  default     = 3600

  validation {
    condition     = var.provider_failure_window_seconds >= 300 && var.provider_failure_window_seconds <= 86400 && var.provider_failure_window_seconds % 60 == 0
    error_message = "provider_failure_window_seconds is whole minutes between 300 and 86400."
  }
}

variable "stalled_after_hours" {
  type        = number
  description = "Alert when no job has settled for this many hours while poll tasks stayed queued all along. Keep it above the longest deadline upstream jobs use (3 hours by default) plus the sweep's grace (1 hour)."
  default     = 6

  validation {
    condition     = var.stalled_after_hours >= 1 && var.stalled_after_hours <= 23 && floor(var.stalled_after_hours) == var.stalled_after_hours
    error_message = "stalled_after_hours is a whole number of hours from 1 to 23 (Cloud Monitoring's absence window ends at 23.5 hours)."
  }
}

variable "queue_depth_threshold" {
  type        = number
  description = "Alert when a poll queue holds more tasks than this for 30 minutes. A queue holds about one task per job in flight, so set it above the number of jobs upstream keeps in flight at its busiest."
  default     = 1000

  validation {
    condition     = var.queue_depth_threshold > 0
    error_message = "queue_depth_threshold must be positive."
  }
}

variable "queue_delay_threshold_seconds" {
  type        = number
  description = "Alert when, for 15 minutes, the 99th percentile of how late a queue dispatches its tasks (past their schedule time) exceeds this. Cloud Tasks publishes no oldest-task age; this is the age of the tasks that are due."
  default     = 300

  validation {
    condition     = var.queue_delay_threshold_seconds > 0
    error_message = "queue_delay_threshold_seconds must be positive."
  }
}

variable "server_errors_threshold" {
  type        = number
  description = "Alert when a function's service answers more than this many 5xx in 5 minutes. A few are expected: the function answers 503 to have Cloud Tasks retry after a transient Cloud Storage or Cloud Tasks error."
  default     = 5

  validation {
    condition     = var.server_errors_threshold >= 0
    error_message = "server_errors_threshold must not be negative."
  }
}
