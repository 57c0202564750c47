"""The public webhook function: the same source as the main function, serving only
POST /webhooks/{provider} behind a shared token, holding no provider key, and scheduling checks
that the private main function performs (docs/deploy.md, "Webhooks")."""

from __future__ import annotations

import re
from typing import Any

import pytest

from jobcourier import config
from jobcourier.courier import Courier
from jobcourier.errors import ConfigurationError
from jobcourier.model import JobKey
from jobcourier.providers import REGISTRY
from jobcourier.validation import Submission
from tests.fakes import World
from tests.infra import tf

RUNTIME_EMAIL = "${google_service_account.runtime.email}"
RUNTIME = "${google_service_account.runtime.member}"
TOKEN_SECRET = "${google_secret_manager_secret.webhook_token.secret_id}"


@pytest.fixture(scope="module")
def webhooks(root: tf.Module) -> dict[str, Any]:
    return tf.function_call(root, "webhook_function")


@pytest.fixture(scope="module")
def service_config(webhooks: dict[str, Any]) -> dict[str, Any]:
    return webhooks


@pytest.fixture(scope="module")
def environment(webhooks: dict[str, Any]) -> dict[str, str]:
    return webhooks["environment_variables"]


@pytest.fixture(scope="module")
def secret_environment(webhooks: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["key"]: entry for entry in webhooks["secret_environment_variables"]}


def test_named_by_a_variable_distinct_from_the_main_function(
    root: tf.Module, webhooks: dict[str, Any]
) -> None:
    assert webhooks["name"] == "${var.webhook_function_name}"
    default = root.variables["webhook_function_name"]["default"]
    assert default == "jobcourier-webhooks"
    assert default != root.variables["function_name"]["default"]


def test_same_source_runtime_entry_point_and_build_as_the_main_function(
    root: tf.Module, webhooks: dict[str, Any]
) -> None:
    main = root.module_calls["main_function"]
    assert root.module_calls["webhook_function"]["build"] == main["build"]
    assert main["build"] == "${local.function_build}", "one build, shared"
    build = webhooks["build"]
    assert build["runtime"] == "python312"
    assert build["entry_point"] == "jobcourier"


def test_runs_as_the_runtime_account_with_small_sizing(
    root: tf.Module, service_config: dict[str, Any]
) -> None:
    # The runtime account already holds exactly what a webhook needs: get/create on the results
    # bucket, enqueue on the queues, actAs the invoker (test_iam_contract.py), plus the token.
    assert service_config["service_account_email"] == RUNTIME_EMAIL
    assert service_config["timeout_seconds"] == "${var.webhook_function_timeout_seconds}"
    assert service_config["available_memory"] == "${var.webhook_function_memory}"
    assert service_config["max_instance_count"] == "${var.webhook_function_max_instances}"
    assert service_config["ingress_settings"] == "ALLOW_ALL", "providers call from the internet"
    assert root.variables["webhook_function_timeout_seconds"]["default"] <= 60
    assert root.variables["webhook_function_memory"]["default"] == "256Mi"
    # Public endpoint: the instance ceiling also bounds what a flood of requests can cost.
    assert 1 <= root.variables["webhook_function_max_instances"]["default"] <= 20


def test_environment_variable_names_are_ones_the_code_reads(
    environment: dict[str, Any], secret_environment: dict[str, Any]
) -> None:
    unknown = (set(environment) | set(secret_environment)) - set(config.ENVIRONMENT_VARIABLES)
    assert unknown == set(), "set on the webhook function but never read by jobcourier.config"


def test_serves_webhooks_only(environment: dict[str, Any]) -> None:
    assert environment[config.WEBHOOKS_ONLY] == "1"


def test_same_configuration_as_the_main_function_plus_webhooks_only(
    root: tf.Module, environment: dict[str, Any]
) -> None:
    main = tf.function_call(root, "main_function")["environment_variables"]
    assert root.module_calls["main_function"]["environment_variables"] == (
        "${local.function_environment}"
    )
    assert {k: v for k, v in environment.items() if k != config.WEBHOOKS_ONLY} == main
    for name in (config.BUCKET, config.QUEUE, config.SELF_URL, config.INVOKER_SA):
        assert name in environment, f"{name} is required in production"
    for provider in config.PROVIDERS:
        assert config.queue_env_var(provider) in environment


def test_self_url_is_the_main_function(root: tf.Module, environment: dict[str, Any]) -> None:
    """The check a webhook schedules is a task to SELF_URL/poll: the main function performs it
    (it holds the provider keys and the invoker's run.invoker grant)."""
    assert environment[config.SELF_URL] == "${local.function_url}"
    assert root.locals["function_url"].endswith("/${var.function_name}")
    assert "webhook" not in root.locals["function_url"]


def test_no_local_only_variable(environment: dict[str, Any]) -> None:
    assert config.LOCAL_ONLY_VARIABLES & set(environment) == set()


def test_mounts_the_webhook_token_and_no_provider_key(
    environment: dict[str, Any], secret_environment: dict[str, Any]
) -> None:
    assert set(secret_environment) == {config.WEBHOOK_TOKEN}
    entry = secret_environment[config.WEBHOOK_TOKEN]
    assert entry["secret"] == TOKEN_SECRET
    assert entry["version"] == "${var.webhook_secret_version}"
    keys = {config.api_key_env_var(p) for p in config.PROVIDERS}
    assert keys & (set(environment) | set(secret_environment)) == set()
    assert config.WEBHOOK_TOKEN not in environment, "the token is a secret, never plain text"


def test_the_main_function_neither_mounts_the_token_nor_serves_webhooks_only(
    root: tf.Module,
) -> None:
    """Choice (docs/deploy.md): the main function's /webhooks route is behind IAM like every
    other route, so it needs no token, and its start does not depend on that secret."""
    main = tf.function_call(root, "main_function")
    secrets = {e["key"] for e in main["secret_environment_variables"]}
    assert config.WEBHOOK_TOKEN not in secrets | set(main["environment_variables"])
    assert config.WEBHOOKS_ONLY not in main["environment_variables"]


def test_token_secret_is_read_by_the_runtime_account_on_that_secret_only(root: tf.Module) -> None:
    secret = root.resource("google_secret_manager_secret", "webhook_token").body
    assert secret["secret_id"] == "${var.secret_id_prefix}webhook-token"
    assert "for_each" not in secret
    binding = root.resource(
        "google_secret_manager_secret_iam_member", "runtime_reads_webhook_token"
    ).body
    assert binding["secret_id"] == "${google_secret_manager_secret.webhook_token.secret_id}"
    assert binding["role"] == "roles/secretmanager.secretAccessor"
    assert binding["member"] == RUNTIME
    assert "for_each" not in binding
    webhooks = root.module_calls["webhook_function"]
    assert (
        "${google_secret_manager_secret_iam_member.runtime_reads_webhook_token}"
        in webhooks["depends_on"]
    )


def test_terraform_knows_which_providers_call_back(root: tf.Module) -> None:
    calling_back = [name for name, p in REGISTRY.items() if p.webhook_job_id is not None]
    assert sorted(root.locals["webhook_providers"]) == sorted(calling_back)


def test_outputs_give_the_base_url_and_each_callback_url(root: tf.Module) -> None:
    assert root.outputs["webhook_url"]["value"] == "${module.webhook_function.url}"
    callback = root.outputs["webhook_callback_urls"]["value"]
    assert "for p in local.webhook_providers" in callback
    assert "${module.webhook_function.url}/webhooks/${p}?token=<token>" in callback
    assert root.outputs["webhook_token_secret"]["value"] == TOKEN_SECRET
    # The token's value never passes through Terraform, so no output can show it.
    for name, output in root.outputs.items():
        assert "secret_data" not in str(output["value"]), name


def test_the_deployed_environment_is_a_valid_webhooks_only_configuration(
    environment: dict[str, Any],
) -> None:
    """The webhook function's environment, with stand-in values, parses as the code expects:
    webhooks only, a token, no provider key."""
    queue = "projects/p/locations/europe-west1/queues/q"
    values = {
        config.BUCKET: "results",
        config.SELF_URL: "https://europe-west1-p.cloudfunctions.net/jobcourier",
        config.INVOKER_SA: "invoker@p.iam.gserviceaccount.com",
    }
    env = {
        name: value if not value.startswith("${") else values.get(name, queue)
        for name, value in environment.items()
    }
    env[config.WEBHOOK_TOKEN] = "a-long-random-token"
    parsed = config.Config.from_env(env)
    assert parsed.webhooks_only is True
    assert parsed.webhook_token == "a-long-random-token"
    assert dict(parsed.api_keys) == {}
    assert re.match(r"https://[^/]+/jobcourier$", parsed.self_url)


@pytest.mark.parametrize(
    ("provider", "body"),
    [("gepetto", {"id": "j-1", "output": None}), ("fliki", {"data": {"id": "j-1"}})],
)
def test_a_webhook_needs_no_provider_key(provider: str, body: dict[str, Any]) -> None:
    """What makes mounting no key safe: handling a callback reads the store, records or
    schedules, and never builds a provider client (which would need the key)."""
    world = World(api=None)  # type: ignore[arg-type]

    def no_key(p: object) -> object:
        raise ConfigurationError(f"{p}: no provider key on the webhook function")

    webhook_function = Courier(
        providers=world.providers,
        api_for=no_key,  # type: ignore[arg-type]
        scheduler=lambda: world.scheduler,
        store=lambda: world.store,
        ledger=lambda: world.store,
        downloader=lambda: world.downloader,
        sender=lambda: world.sender,
        clock=world.clock,
    )
    before = webhook_function.webhook(provider, body)
    assert (before.http_status, before.body["outcome"]) == (202, "recorded")
    world.courier().submit(Submission(JobKey(provider, "j-1")))  # the main function's part
    after = webhook_function.webhook(provider, body)
    assert (after.http_status, after.body["outcome"]) == (202, "check_scheduled")
    assert world.scheduler.tasks[-1].task.kind == "webhook"
