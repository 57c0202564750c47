# One jobcourier function (Cloud Functions 2nd gen, HTTP): the build of the shared source and the
# service that runs it. Both of the deployment's functions come from here, so they cannot drift
# apart in runtime, entry point, source or sizing rules; what differs between them (name, size,
# ingress, environment, secrets) comes in as variables.
resource "google_cloudfunctions2_function" "function" {
  #checkov:skip=CKV_GCP_124:Ingress is the caller's choice (ingress_settings). The main function defaults to ALLOW_ALL because upstream jobs and Cloud Build call from outside any VPC, and IAM still demands an ID token there; the webhook function must be public for unsigned provider callbacks and serves only /webhooks/* behind a shared token (infra/main.tf).
  project     = var.project_id
  location    = var.location
  name        = var.name
  description = var.description
  labels      = var.labels

  build_config {
    runtime           = var.build.runtime
    entry_point       = var.build.entry_point
    service_account   = var.build.service_account
    docker_repository = var.build.docker_repository

    source {
      storage_source {
        bucket = var.build.source_bucket
        object = var.build.source_object
      }
    }
  }

  service_config {
    service_account_email = var.service_account_email
    timeout_seconds       = var.timeout_seconds
    available_memory      = var.available_memory
    max_instance_count    = var.max_instance_count
    min_instance_count    = 0
    # One request per instance: a streaming copy gets the whole instance, so memory per request
    # is predictable (docs/deploy.md, "The function's size").
    max_instance_request_concurrency = 1
    ingress_settings                 = var.ingress_settings
    all_traffic_on_latest_revision   = true

    environment_variables = var.environment_variables

    # In the order given: the API keeps this list as a list, so reordering it would be a change.
    dynamic "secret_environment_variables" {
      for_each = var.secret_environment_variables
      content {
        key        = secret_environment_variables.value.key
        project_id = var.project_id
        secret     = secret_environment_variables.value.secret
        version    = secret_environment_variables.value.version
      }
    }
  }
}
