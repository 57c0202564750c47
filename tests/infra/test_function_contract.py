"""The main function Terraform deploys is the one the code expects: source, entry point, runtime,
environment variable names, queues and provider keys (docs/contract.md#configuration)."""

from __future__ import annotations

import ast
import re
from typing import Any

import pytest

from jobcourier import config
from tests.infra import tf
from tests.infra.conftest import INFRA, REPO


@pytest.fixture(scope="module")
def function(root: tf.Module) -> dict[str, Any]:
    """The main (private) function; the public webhook function is test_webhook_function.py's.
    Both are calls of infra/modules/function (test_function_module.py checks that it passes
    what it is given to the function unchanged)."""
    assert root.of_type("google_cloudfunctions2_function") == [], "functions are module calls"
    calls = {n for n, c in root.module_calls.items() if c["source"] == "./modules/function"}
    assert calls == {"main_function", "webhook_function"}, "the main and the webhook function"
    return tf.function_call(root, "main_function")


@pytest.fixture(scope="module")
def build_config(function: dict[str, Any]) -> dict[str, Any]:
    return function["build"]


@pytest.fixture(scope="module")
def service_config(function: dict[str, Any]) -> dict[str, Any]:
    return function


@pytest.fixture(scope="module")
def environment(function: dict[str, Any]) -> dict[str, str]:
    return function["environment_variables"]


@pytest.fixture(scope="module")
def secret_environment(function: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["key"]: entry for entry in function["secret_environment_variables"]}


def test_runtime_and_entry_point(build_config: dict[str, Any]) -> None:
    assert build_config["runtime"] == "python312"
    assert build_config["entry_point"] == "jobcourier"


def test_entry_point_is_a_function_in_main_py() -> None:
    main = REPO / "functions" / "main.py"
    assert main.exists(), "functions/main.py is the deployable source's entry module"
    tree = ast.parse(main.read_text(encoding="utf-8"))
    names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert "jobcourier" in names, f"expected a top-level function 'jobcourier'. Found: {names}"


def test_source_is_the_functions_directory_named_by_its_hash(
    root: tf.Module, build_config: dict[str, Any]
) -> None:
    assert "google_storage_bucket_object.source.name" in build_config["source_object"]

    archives = [d for d in root.data if d.type == "archive_file"]
    assert len(archives) == 1
    archive = archives[0].body
    source_dir = archive["source_dir"]
    assert source_dir.endswith("/../functions"), source_dir
    assert (INFRA / "../functions").resolve() == REPO / "functions"
    assert (REPO / "functions" / "main.py").exists()

    source_object = root.resource("google_storage_bucket_object", "source").body
    assert f"data.archive_file.{archives[0].name}.output_md5" in source_object["name"]
    assert f"data.archive_file.{archives[0].name}.output_path" in source_object["source"]


def test_deployable_source_declares_its_dependencies() -> None:
    # The Python buildpack installs functions/requirements.txt; nothing else reaches the build.
    requirements = REPO / "functions" / "requirements.txt"
    assert requirements.exists(), "functions/requirements.txt (exported from uv.lock) is missing"
    text = requirements.read_text(encoding="utf-8")
    assert "functions-framework==" in text


def test_environment_variable_names_are_ones_the_code_reads(
    environment: dict[str, Any], secret_environment: dict[str, Any]
) -> None:
    unknown = (set(environment) | set(secret_environment)) - set(config.ENVIRONMENT_VARIABLES)
    assert unknown == set(), "set on the function but never read by jobcourier.config"


def test_required_configuration_is_set(environment: dict[str, Any]) -> None:
    for name in (config.BUCKET, config.QUEUE, config.SELF_URL, config.INVOKER_SA):
        assert name in environment, f"{name} is required in production"
    assert "module.results_bucket.name" in environment[config.BUCKET]
    assert "google_service_account.invoker.email" in environment[config.INVOKER_SA]


def test_no_local_only_variable_reaches_production(environment: dict[str, Any]) -> None:
    assert config.LOCAL_ONLY_VARIABLES & set(environment) == set()


def test_self_url_is_the_predictable_function_url(
    root: tf.Module, environment: dict[str, Any]
) -> None:
    # Reading the URL from the function itself would be a cycle; the 2nd gen URL is fixed.
    assert environment[config.SELF_URL] == "${local.function_url}"
    assert root.locals["function_url"] == (
        "https://${var.region}-${var.project_id}.cloudfunctions.net/${var.function_name}"
    )


def test_terraform_knows_the_same_providers_as_the_code(root: tf.Module) -> None:
    assert tuple(root.locals["providers"]) == config.PROVIDERS


def test_default_queue_and_one_queue_per_provider(
    root: tf.Module, environment: dict[str, Any]
) -> None:
    call = root.module_calls["poll_queue"]
    assert call["source"] == "./modules/poll_queue"
    assert call["for_each"] == '${toset(concat(["default"], local.providers))}'
    routes = {"default": config.QUEUE} | {p: config.queue_env_var(p) for p in config.PROVIDERS}
    for route, env_var in routes.items():
        assert environment.get(env_var) == f'${{module.poll_queue["{route}"].id}}', env_var
        for variable in ("queue_names", "queue_rate_limits", "queue_retry_configs"):
            assert route in root.variables[variable]["default"], f"{variable} lacks {route}"


def test_queue_names_are_variables_with_distinct_valid_ids(root: tf.Module) -> None:
    names = root.variables["queue_names"]["default"]
    assert len(set(names.values())) == len(names)
    for name in names.values():
        assert re.fullmatch(r"[A-Za-z0-9-]{1,100}", name), name


def test_queue_module_outputs_the_full_name_the_code_validates(modules: dict[str, Any]) -> None:
    output = modules["poll_queue"].outputs["id"]["value"]
    assert "projects/%s/locations/%s/queues/%s" in output
    assert "google_cloud_tasks_queue.queue.project" in output
    assert "google_cloud_tasks_queue.queue.location" in output
    assert "google_cloud_tasks_queue.queue.name" in output


def test_each_provider_key_is_a_secret_environment_variable(
    root: tf.Module, secret_environment: dict[str, Any]
) -> None:
    secrets = root.resource("google_secret_manager_secret", "provider_key").body
    assert secrets["for_each"] == "${toset(local.providers)}"
    for provider in config.PROVIDERS:
        entry = secret_environment.get(config.api_key_env_var(provider))
        assert entry, f"{config.api_key_env_var(provider)} is not a secret environment variable"
        assert entry["secret"] == (
            f'${{google_secret_manager_secret.provider_key["{provider}"].secret_id}}'
        )
        assert entry["version"] == f"${{var.provider_key_versions.{provider}}}"
    keys = {config.api_key_env_var(p) for p in config.PROVIDERS}
    assert set(secret_environment) == keys | {config.CALLBACK_SECRET}


def test_callback_secret_is_mounted_on_the_main_function_only(
    root: tf.Module, environment: dict[str, Any], secret_environment: dict[str, Any]
) -> None:
    """The key that signs callbacks (Standard Webhooks): a secret, given to the main function,
    which sends the callbacks, and to no other."""
    secret = root.resource("google_secret_manager_secret", "callback_secret").body
    assert secret["secret_id"] == "${var.secret_id_prefix}callback-secret"
    assert secret["deletion_protection"] == "${var.deletion_protection}"
    entry = secret_environment[config.CALLBACK_SECRET]
    assert entry["secret"] == "${google_secret_manager_secret.callback_secret.secret_id}"
    assert entry["version"] == "${var.callback_secret_version}"
    assert root.variables["callback_secret_version"]["default"] == "latest"
    assert config.CALLBACK_SECRET not in environment, "a secret, never plain text"
    webhooks = tf.function_call(root, "webhook_function")
    mounted = {e["key"] for e in webhooks["secret_environment_variables"]}
    assert config.CALLBACK_SECRET not in mounted | set(webhooks["environment_variables"])
    for call in root.module_calls.values():
        if call["source"] != "./modules/function":
            continue
        secrets = [e["secret"] for e in call.get("secret_environment_variables", [])]
        uses = [s for s in secrets if "callback_secret" in s]
        assert uses == ([entry["secret"]] if call is root.module_calls["main_function"] else [])


def test_callback_secret_is_read_by_the_runtime_account_on_that_secret_only(
    root: tf.Module,
) -> None:
    readers = [
        b
        for b in root.of_type("google_secret_manager_secret_iam_member")
        if "callback_secret" in str(b.body["secret_id"])
    ]
    assert [b.name for b in readers] == ["runtime_reads_callback_secret"]
    binding = readers[0].body
    assert binding["secret_id"] == "${google_secret_manager_secret.callback_secret.secret_id}"
    assert binding["role"] == "roles/secretmanager.secretAccessor"
    assert binding["member"] == "${google_service_account.runtime.member}"
    assert "for_each" not in binding
    depends_on = root.module_calls["main_function"]["depends_on"]
    assert "${google_secret_manager_secret_iam_member.runtime_reads_callback_secret}" in depends_on
    webhooks_depends_on = root.module_calls["webhook_function"]["depends_on"]
    assert not [d for d in webhooks_depends_on if "callback" in d]
    assert root.outputs["callback_secret"]["value"] == (
        "${google_secret_manager_secret.callback_secret.secret_id}"
    )


def test_key_values_never_pass_through_terraform(modules: dict[str, Any]) -> None:
    blocks = list(tf.all_blocks(modules))
    assert not [b.address for b in blocks if b.type == "google_secret_manager_secret_version"]
    for module in modules.values():
        for name, variable in module.variables.items():
            assert not re.search(r"api_key|secret_data|password|token", name), name
            assert not variable.get("sensitive"), f"{name}: no secret value is a variable"


def test_function_timeout_leaves_room_for_streaming(
    root: tf.Module, service_config: dict[str, Any]
) -> None:
    assert service_config["timeout_seconds"] == "${var.function_timeout_seconds}"
    assert 300 <= root.variables["function_timeout_seconds"]["default"] <= 1800
    assert service_config["service_account_email"] == "${google_service_account.runtime.email}"


def test_tasks_give_up_before_the_function_times_out_and_after_its_work_budget(
    root: tf.Module,
) -> None:
    """Issue 2: the dispatch deadline sits below the function's own timeout. The function
    keeps its work inside a budget well below the deadline (a long delivery hands the rest to
    the next invocation), so Cloud Tasks only gives up on an invocation that is truly stuck,
    and the function timeout is the backstop behind it. A duplicate that overlaps a stuck
    invocation is harmless: every write is create-only."""
    from jobcourier.limits import COPY_CUTOFF, DELIVERY_BUDGET, DISPATCH_DEADLINE

    timeout = root.variables["function_timeout_seconds"]["default"]
    deadline = DISPATCH_DEADLINE.total_seconds()
    assert 15 <= deadline < timeout  # Cloud Tasks accepts 15 s to 30 min
    assert DELIVERY_BUDGET < COPY_CUTOFF
    assert COPY_CUTOFF.total_seconds() + 30 <= deadline  # room to answer after a cutoff


def test_the_code_knows_which_attempt_is_the_queues_last(root: tf.Module) -> None:
    from jobcourier.limits import MAX_TASK_ATTEMPTS

    configs = root.variables["queue_retry_configs"]["default"]
    assert {c["max_attempts"] for c in configs.values()} == {MAX_TASK_ATTEMPTS}
