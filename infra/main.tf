/**
 * jobcourier: an HTTP Cloud Function (2nd gen) that checks a provider job's status once per
 * invocation, reschedules itself through Cloud Tasks while the job runs, and streams the results
 * into a GCS bucket. Terraform owns every resource here, the functions included; Cloud Build runs
 * `terraform apply` (docs/deploy.md).
 *
 * Two functions run the same source:
 *   jobcourier           - private (IAM run.invoker): POST /jobs, GET /jobs/..., POST /poll.
 *   jobcourier-webhooks  - public (allUsers run.invoker on its service only), because providers
 *                          call back unsigned and cannot send an ID token. It serves only
 *                          POST /webhooks/{provider} (JOBCOURIER_WEBHOOKS_ONLY=1), demands the
 *                          shared ?token= (JOBCOURIER_WEBHOOK_TOKEN), holds no provider key, and
 *                          can only enqueue one status check that the main function performs.
 *
 * Who can do what (everything bound on the resource, member by member):
 *   runtime SA  - enqueue on the poll queues; create/get/list/delete objects in the results bucket;
 *                 actAs the invoker SA (to put its OIDC token on tasks); read the provider keys,
 *                 the callback signing secret and the webhook token. Both functions run as it;
 *                 the main function mounts the keys and the callback secret, the webhook
 *                 function the token only.
 *   invoker SA  - run.invoker on the main function's Cloud Run service. Nothing else. Poll tasks
 *                 and the Cloud Scheduler sweep job (POST /sweep) carry its OIDC token.
 *   Cloud Scheduler's service agent - mint OIDC tokens for the invoker SA (that account only).
 *   build SA    - read the source bucket, push to the function's image repository, write logs.
 *   GCS agent   - publish to the notification topic.
 *   allUsers    - run.invoker on the webhook function's Cloud Run service, and nowhere else.
 */

provider "google" {
  project = var.project_id
  region  = var.region
}

locals {
  providers = ["spacely", "gepetto", "sellerpic", "fliki"]

  results_bucket_name = coalesce(var.results_bucket_name, "${var.project_id}-jobcourier-results")
  source_bucket_name  = coalesce(var.source_bucket_name, "${var.project_id}-jobcourier-source")

  # The function's own URL. It cannot be read from the function resource without a cycle (the
  # function's environment would depend on the function), and a 2nd gen function's
  # cloudfunctions.net URL is fixed by region, project and name.
  function_url = "https://${var.region}-${var.project_id}.cloudfunctions.net/${var.function_name}"

  # Providers that call back (the code's Provider.webhook_job_id; a test keeps the two in step).
  webhook_providers = ["gepetto", "fliki"]
}

# ---------------------------------------------------------------------------------------------
# Identities
# ---------------------------------------------------------------------------------------------

resource "google_service_account" "runtime" {
  project      = var.project_id
  account_id   = var.runtime_service_account_id
  display_name = "jobcourier function runtime"
  description  = "Identity of the jobcourier function: polls providers, enqueues its own checks, writes results."
}

resource "google_service_account" "invoker" {
  project      = var.project_id
  account_id   = var.invoker_service_account_id
  display_name = "jobcourier poll-task invoker"
  description  = "OIDC identity carried by jobcourier's Cloud Tasks poll tasks; may only invoke the function."
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = var.build_service_account_id
  display_name = "jobcourier function build"
  description  = "Builds the jobcourier function's image from its zipped source."
}

# actAs on the invoker account only: creating a task with an OIDC token for an account needs
# iam.serviceAccounts.actAs on that account (Cloud Tasks OidcToken). The Cloud Tasks service
# agent needs no grant: its own role already lets it mint the token.
resource "google_service_account_iam_member" "runtime_acts_as_invoker" {
  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.runtime.member
}

# ---------------------------------------------------------------------------------------------
# Poll queues
# ---------------------------------------------------------------------------------------------

module "poll_queue" {
  source   = "./modules/poll_queue"
  for_each = toset(concat(["default"], local.providers))

  project_id         = var.project_id
  location           = var.region
  name               = var.queue_names[each.key]
  rate_limits        = var.queue_rate_limits[each.key]
  retry_config       = var.queue_retry_configs[each.key]
  log_sampling_ratio = var.queue_log_sampling_ratio
  enqueuers = {
    runtime = google_service_account.runtime.member
  }
  viewers = {
    runtime = google_service_account.runtime.member
  }
}

# ---------------------------------------------------------------------------------------------
# Results bucket, notifications, and the function's access to it
# ---------------------------------------------------------------------------------------------

# Exactly what the function does to results (functions/jobcourier/edges/gcs.py; a test keeps
# the two in step): create objects (create-only writes of results, manifest and markers), get
# them (manifest and marker reads, an existing result's metadata), list a job's folder (results
# stored by an earlier delivery) and delete (the storage client removes an upload whose crc32c
# did not verify). No update, no restore, no bucket or IAM permissions: roles/storage.objectUser
# would add those and multipart uploads.
resource "google_project_iam_custom_role" "results_writer" {
  project     = var.project_id
  role_id     = var.results_writer_role_id
  title       = "jobcourier results writer"
  description = "Create, get, list and delete objects; granted on the jobcourier results bucket only."
  permissions = [
    "storage.objects.create",
    "storage.objects.delete",
    "storage.objects.get",
    "storage.objects.list",
  ]
}

module "results_bucket" {
  source = "./modules/results_bucket"

  project_id                    = var.project_id
  name                          = local.results_bucket_name
  location                      = coalesce(var.results_bucket_location, var.region)
  labels                        = var.labels
  lifecycle_rules               = var.results_lifecycle_rules
  soft_delete_retention_seconds = var.results_soft_delete_retention_seconds
  force_destroy                 = var.results_force_destroy
  object_writer_role            = google_project_iam_custom_role.results_writer.name
  writers = {
    runtime = google_service_account.runtime.member
  }
  readers     = var.results_readers
  topic_name  = var.notification_topic_name
  subscribers = var.notification_subscribers
}

# ---------------------------------------------------------------------------------------------
# Provider API keys: the secrets only. Versions (the key values) are added outside Terraform,
# so no key ever passes through a variable, a plan or the state.
# ---------------------------------------------------------------------------------------------

resource "google_secret_manager_secret" "provider_key" {
  for_each = toset(local.providers)

  project             = var.project_id
  secret_id           = "${var.secret_id_prefix}${each.key}-api-key"
  labels              = var.labels
  deletion_protection = var.deletion_protection

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_iam_member" "runtime_reads_provider_key" {
  for_each = google_secret_manager_secret.provider_key

  project   = each.value.project
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.runtime.member
}

# The shared secret webhook callbacks carry as ?token= (JOBCOURIER_WEBHOOK_TOKEN). Like the keys:
# the secret only; the operator adds its version (docs/deploy.md, "Webhooks").
resource "google_secret_manager_secret" "webhook_token" {
  project             = var.project_id
  secret_id           = "${var.secret_id_prefix}webhook-token"
  labels              = var.labels
  deletion_protection = var.deletion_protection

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_iam_member" "runtime_reads_webhook_token" {
  project   = google_secret_manager_secret.webhook_token.project
  secret_id = google_secret_manager_secret.webhook_token.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.runtime.member
}

# The key that signs the callbacks the main function sends (JOBCOURIER_CALLBACK_SECRET, Standard
# Webhooks: "whsec_" + base64 of random bytes). Like the keys: the secret only; the operator adds
# its version (docs/deploy.md, "Callback signing secret"). Read by the runtime account on behalf
# of the main function, which alone mounts it: the webhook function sends no callback.
resource "google_secret_manager_secret" "callback_secret" {
  project             = var.project_id
  secret_id           = "${var.secret_id_prefix}callback-secret"
  labels              = var.labels
  deletion_protection = var.deletion_protection

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_iam_member" "runtime_reads_callback_secret" {
  project   = google_secret_manager_secret.callback_secret.project
  secret_id = google_secret_manager_secret.callback_secret.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.runtime.member
}

# ---------------------------------------------------------------------------------------------
# Function source and build
# ---------------------------------------------------------------------------------------------

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Holds only the zipped function source; access is recorded by Cloud Audit Logs.
  #checkov:skip=CKV_GCP_78:Every source archive is a new object named by its content hash; nothing is overwritten, so versioning has nothing to keep.
  project                     = var.project_id
  name                        = local.source_bucket_name
  location                    = var.region
  labels                      = var.labels
  force_destroy               = true
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
}

data "archive_file" "source" {
  type             = "zip"
  source_dir       = "${path.module}/../functions"
  output_path      = "${path.module}/.terraform/tmp/jobcourier-source.zip"
  output_file_mode = "0644"
  excludes = [
    "**/__pycache__",
    "**/__pycache__/**",
    "**/*.pyc",
  ]
}

# Named by the archive's hash: a code change is a new object, which rolls out a new revision.
resource "google_storage_bucket_object" "source" {
  bucket       = google_storage_bucket.source.name
  name         = "${var.function_name}/source-${data.archive_file.source.output_md5}.zip"
  source       = data.archive_file.source.output_path
  content_type = "application/zip"
}

resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Images hold the function's code and its pinned public dependencies, no data and no secrets (keys come from Secret Manager at run time); Google-managed encryption is enough and a CMEK would add a key the team must run.
  project       = var.project_id
  location      = var.region
  repository_id = var.artifact_repository_id
  description   = "Images built for the jobcourier function."
  format        = "DOCKER"
  labels        = var.labels

  cleanup_policies {
    id     = "keep-most-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.artifact_keep_count
    }
  }

  cleanup_policies {
    id     = "delete-older"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }
}

resource "google_storage_bucket_iam_member" "build_reads_source" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

resource "google_artifact_registry_repository_iam_member" "build_pushes_images" {
  project    = google_artifact_registry_repository.functions.project
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

# Build logs can only be granted on the project (there is no narrower resource for them).
resource "google_project_iam_member" "build_writes_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

# ---------------------------------------------------------------------------------------------
# The functions: one source, two deployments (infra/modules/function)
# ---------------------------------------------------------------------------------------------

locals {
  # Both functions build the same source the same way.
  function_build = {
    runtime           = "python312"
    entry_point       = "jobcourier"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id
    source_bucket     = google_storage_bucket.source.name
    source_object     = google_storage_bucket_object.source.name
  }

  # ...and read the same configuration: the bucket, the queues, the main function's URL (the
  # target of every poll task, whoever creates it) and the invoker account the tasks carry.
  function_environment = {
    JOBCOURIER_BUCKET          = module.results_bucket.name
    JOBCOURIER_QUEUE           = module.poll_queue["default"].id
    JOBCOURIER_QUEUE_SPACELY   = module.poll_queue["spacely"].id
    JOBCOURIER_QUEUE_GEPETTO   = module.poll_queue["gepetto"].id
    JOBCOURIER_QUEUE_SELLERPIC = module.poll_queue["sellerpic"].id
    JOBCOURIER_QUEUE_FLIKI     = module.poll_queue["fliki"].id
    JOBCOURIER_SELF_URL        = local.function_url
    JOBCOURIER_INVOKER_SA      = google_service_account.invoker.email
  }
}

# The main, private function. Ingress defaults to ALLOW_ALL because upstream jobs and the Cloud
# Build smoke check call from outside any VPC; every request still needs an ID token of a
# principal holding run.invoker on its service (no allUsers binding, refused by variable
# validation). Set ingress_settings = "ALLOW_INTERNAL_ONLY" where all callers are internal.
module "main_function" {
  source = "./modules/function"

  project_id            = var.project_id
  location              = var.region
  name                  = var.function_name
  description           = "Polls generative-AI provider jobs through Cloud Tasks and streams their results into GCS."
  labels                = var.labels
  build                 = local.function_build
  service_account_email = google_service_account.runtime.email
  timeout_seconds       = var.function_timeout_seconds
  available_memory      = var.function_memory
  max_instance_count    = var.function_max_instances
  ingress_settings      = var.ingress_settings
  environment_variables = local.function_environment

  secret_environment_variables = [
    {
      key     = "SPACELY_API_KEY"
      secret  = google_secret_manager_secret.provider_key["spacely"].secret_id
      version = var.provider_key_versions.spacely
    },
    {
      key     = "GEPETTO_API_KEY"
      secret  = google_secret_manager_secret.provider_key["gepetto"].secret_id
      version = var.provider_key_versions.gepetto
    },
    {
      key     = "SELLERPIC_API_KEY"
      secret  = google_secret_manager_secret.provider_key["sellerpic"].secret_id
      version = var.provider_key_versions.sellerpic
    },
    {
      key     = "FLIKI_API_KEY"
      secret  = google_secret_manager_secret.provider_key["fliki"].secret_id
      version = var.provider_key_versions.fliki
    },
    {
      key     = "JOBCOURIER_CALLBACK_SECRET"
      secret  = google_secret_manager_secret.callback_secret.secret_id
      version = var.callback_secret_version
    },
  ]

  depends_on = [
    google_secret_manager_secret_iam_member.runtime_reads_provider_key,
    google_secret_manager_secret_iam_member.runtime_reads_callback_secret,
    google_storage_bucket_iam_member.build_reads_source,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_project_iam_member.build_writes_logs,
  ]
}

# Invocation: run.invoker on this function's Cloud Run service only (2nd gen functions are
# invoked through Cloud Run). No allUsers, no allAuthenticatedUsers: the main function does not
# mount the webhook token either, since its own /webhooks route is behind IAM like the rest.
resource "google_cloud_run_v2_service_iam_member" "poll_task_invoker" {
  project  = var.project_id
  location = var.region
  name     = module.main_function.service
  role     = "roles/run.invoker"
  member   = google_service_account.invoker.member
}

resource "google_cloud_run_v2_service_iam_member" "caller" {
  for_each = toset(var.invoker_members)

  project  = var.project_id
  location = var.region
  name     = module.main_function.service
  role     = "roles/run.invoker"
  member   = each.value
}

# ---------------------------------------------------------------------------------------------
# The webhook function: the same source and runtime account, public, webhooks only
# ---------------------------------------------------------------------------------------------

# What a request to it can do: with the right ?token=, read the job's manifest and submission
# marker, and either enqueue one named (deduplicated) status check on the provider's queue, which
# the MAIN function performs through the provider's own API, or record an unknown job id once
# (create-only). Nothing in the body is trusted beyond the job id. Every other route answers 404
# (JOBCOURIER_WEBHOOKS_ONLY), and no provider key is mounted here. It runs as the runtime account
# because it needs exactly a subset of that account's grants (results bucket, queues, actAs the
# invoker for the task's OIDC token) plus the webhook token, which that account also reads.
module "webhook_function" {
  source = "./modules/function"

  project_id            = var.project_id
  location              = var.region
  name                  = var.webhook_function_name
  description           = "Public endpoint for provider callbacks: POST /webhooks/{provider}?token=... schedules one status check of that job; nothing else."
  labels                = var.labels
  build                 = local.function_build
  service_account_email = google_service_account.runtime.email
  timeout_seconds       = var.webhook_function_timeout_seconds
  available_memory      = var.webhook_function_memory
  max_instance_count    = var.webhook_function_max_instances
  # Public: providers call back from their own servers, outside any VPC.
  ingress_settings = "ALLOW_ALL"

  # JOBCOURIER_SELF_URL is the MAIN function: the scheduled check is a task to its /poll.
  environment_variables = merge(local.function_environment, {
    JOBCOURIER_WEBHOOKS_ONLY = "1"
  })

  # The only secret it mounts. No provider key: it never calls a provider.
  secret_environment_variables = [
    {
      key     = "JOBCOURIER_WEBHOOK_TOKEN"
      secret  = google_secret_manager_secret.webhook_token.secret_id
      version = var.webhook_secret_version
    },
  ]

  depends_on = [
    google_secret_manager_secret_iam_member.runtime_reads_webhook_token,
    google_storage_bucket_iam_member.build_reads_source,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_project_iam_member.build_writes_logs,
  ]
}

# The one public binding of the deployment: anyone may invoke the webhook function's Cloud Run
# service (providers' callbacks carry no ID token). The main function stays IAM-only, and
# tests/infra/test_iam_contract.py fails on allUsers anywhere else. checkov 3.3.30's public
# Cloud Run check (CKV_GCP_102) covers only the v1 google_cloud_run_service_iam_* resources; if a
# newer checkov flags this one, skip it here with the reason: webhook endpoint must be public for
# unsigned provider callbacks; it serves only /webhooks/*, requires a shared token, and can only
# trigger a status check through the provider's API.
resource "google_cloud_run_v2_service_iam_member" "webhooks_public" {
  project  = var.project_id
  location = var.region
  name     = module.webhook_function.service
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# ---------------------------------------------------------------------------------------------
# The sweep: Cloud Scheduler calls POST /sweep, which settles jobs whose polling chain was lost
# ---------------------------------------------------------------------------------------------

data "google_project" "project" {
  project_id = var.project_id
}

locals {
  # Cloud Scheduler's service agent: it mints the OIDC token a job carries, as the job's account.
  scheduler_service_agent = "serviceAccount:service-${data.google_project.project.number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"
}

# Token minting for the invoker account only. Cloud Scheduler's service agent already holds
# roles/cloudscheduler.serviceAgent on the project (iam.serviceAccounts.getOpenIdToken among
# others), granted when the API is enabled; projects that enabled the API before 2019-03-19, or
# that lost that grant, answer every authenticated job with 403. This grant makes the one
# permission the sweep needs explicit, on the one account it needs it for.
resource "google_service_account_iam_member" "scheduler_mints_invoker_tokens" {
  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountOpenIdTokenCreator"
  member             = local.scheduler_service_agent
}

# The same identity as the poll tasks: the invoker account, whose only grant is run.invoker on
# the main function's service, with the main function's URL as the token's audience.
resource "google_cloud_scheduler_job" "sweep" {
  project     = var.project_id
  region      = var.region
  name        = "${var.function_name}-sweep"
  description = "POST /sweep: settles as timed_out (chain_lost) every job whose deadline passed without a manifest."
  schedule    = var.sweep_schedule
  time_zone   = "Etc/UTC"
  # As long as the function may take; a sweep that fails is simply made again at the next run.
  attempt_deadline = "${var.function_timeout_seconds}s"

  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = "${local.function_url}/sweep"
    body        = base64encode("{}")
    headers = {
      "Content-Type" = "application/json"
    }

    oidc_token {
      service_account_email = google_service_account.invoker.email
      audience              = local.function_url
    }
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.poll_task_invoker,
    google_service_account_iam_member.scheduler_mints_invoker_tokens,
  ]
}

# ---------------------------------------------------------------------------------------------
# Monitoring: log-based metrics, alert policies and a dashboard (infra/modules/monitoring,
# runbook in docs/operations.md)
# ---------------------------------------------------------------------------------------------

module "monitoring" {
  source = "./modules/monitoring"

  project_id            = var.project_id
  metric_prefix         = var.function_name
  service_names         = [module.main_function.service, module.webhook_function.service]
  location              = var.region
  queue_ids             = [for queue in module.poll_queue : queue.name]
  notification_channels = var.notification_channels
  labels                = var.labels

  provider_failure_ratio          = var.alert_provider_failure_ratio
  provider_failure_window_seconds = var.alert_provider_failure_window_seconds
  stalled_after_hours             = var.alert_stalled_after_hours
  queue_depth_threshold           = var.alert_queue_depth_threshold
  queue_delay_threshold_seconds   = var.alert_queue_delay_threshold_seconds
  server_errors_threshold         = var.alert_server_errors_threshold
}

# The functions were resources of this module before they shared modules/function: the same
# objects under their new addresses, so the move is a no-op for the deployment.
moved {
  from = google_cloudfunctions2_function.jobcourier
  to   = module.main_function.google_cloudfunctions2_function.function
}

moved {
  from = google_cloudfunctions2_function.webhooks
  to   = module.webhook_function.google_cloudfunctions2_function.function
}
