variable "project_id" {
  type        = string
  description = "Project that holds the function."
}

variable "location" {
  type        = string
  description = "Region of the function (and of its Cloud Run service)."
}

variable "name" {
  type        = string
  description = "Name of the function and of its Cloud Run service."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,48}[a-z0-9]$", var.name))
    error_message = "A function name is lower-case letters, digits and hyphens, starts with a letter, 2 to 50 characters."
  }
}

variable "description" {
  type        = string
  description = "What the function is for, shown in the console."
}

variable "labels" {
  type        = map(string)
  description = "Labels set on the function."
  default     = {}
}

variable "build" {
  type = object({
    runtime           = string
    entry_point       = string
    service_account   = string
    docker_repository = string
    source_bucket     = string
    source_object     = string
  })
  description = "How the image is built: runtime (e.g. python312), entry point, the build service account (full ID, projects/P/serviceAccounts/E), the Artifact Registry repository (full ID) and the zipped source (bucket and object). Functions given the same value run the same code."
}

variable "service_account_email" {
  type        = string
  description = "Email of the runtime service account the function runs as."
}

variable "timeout_seconds" {
  type        = number
  description = "Longest invocation, in seconds."

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 3600
    error_message = "timeout_seconds must be between 1 and 3600 (the limit of HTTP functions)."
  }
}

variable "available_memory" {
  type        = string
  description = "Memory of each instance, e.g. \"1Gi\" or \"256Mi\"."
}

variable "max_instance_count" {
  type        = number
  description = "Ceiling on instances; each serves one request at a time."
}

variable "ingress_settings" {
  type        = string
  description = "Network ingress: ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB. Invocation is decided by IAM (run.invoker bindings on the output service) whatever this says."

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.ingress_settings)
    error_message = "ingress_settings is ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "environment_variables" {
  type        = map(string)
  description = "Plain environment variables (names the code reads in jobcourier.config). Never a secret: those go in secret_environment_variables."
  default     = {}
}

variable "secret_environment_variables" {
  type = list(object({
    key     = string
    secret  = string
    version = string
  }))
  description = "Environment variables read from Secret Manager when an instance starts: key (the variable), secret (secret ID in project_id) and version (\"latest\" or a number). The runtime account needs secretAccessor on each secret before the function is created."
  default     = []

  validation {
    condition     = length(distinct([for s in var.secret_environment_variables : s.key])) == length(var.secret_environment_variables)
    error_message = "Each secret environment variable is given once."
  }
}
