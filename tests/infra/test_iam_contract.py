"""Least privilege, checked against what the code does: each permission the function's cloud
calls need is granted to its runtime account on that one resource, and nothing broader is
granted anywhere."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra import tf
from tests.infra.conftest import INFRA, REPO

EDGES = REPO / "functions" / "jobcourier" / "edges"
PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
RUNTIME = "${google_service_account.runtime.member}"
INVOKER = "${google_service_account.invoker.member}"

# google-cloud-storage calls -> the object permissions they use. A call that is not listed
# here (bucket reads, metadata patches, copies...) fails the test below until it is.
STORAGE_CALL_PERMISSIONS = {
    "upload_from_file": {"storage.objects.create"},
    "upload_from_string": {"storage.objects.create"},
    "upload_from_filename": {"storage.objects.create"},
    "get_blob": {"storage.objects.get"},
    "reload": {"storage.objects.get"},
    "download_as_bytes": {"storage.objects.get"},
    "download_as_text": {"storage.objects.get"},
    "download_to_file": {"storage.objects.get"},
    "exists": {"storage.objects.get"},
    "list_blobs": {"storage.objects.list"},
    "delete": {"storage.objects.delete"},
}
STORAGE_CALLS_NOT_GRANTED = {
    "get_bucket",
    "lookup_bucket",
    "patch",
    "update",
    "rewrite",
    "compose",
    "copy_blob",
    "make_public",
    "set_iam_policy",
    "get_iam_policy",
    "delete_blobs",
}
# google-cloud-tasks calls -> the role on the queue that allows them.
TASKS_CALL_ROLES = {
    "create_task": "roles/cloudtasks.enqueuer",
    "list_tasks": "roles/cloudtasks.viewer",
}
TASKS_CALLS_NOT_GRANTED = {"delete_task", "get_task", "run_task", "purge_queue"}


def _calls(path: Path) -> dict[str, list[ast.Call]]:
    found: dict[str, list[ast.Call]] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            found.setdefault(node.func.attr, []).append(node)
    return found


def _needed_storage_permissions() -> set[str]:
    path = EDGES / "gcs.py"
    if not path.exists():
        pytest.skip("functions/jobcourier/edges/gcs.py does not exist yet")
    calls = _calls(path)
    assert not STORAGE_CALLS_NOT_GRANTED & set(calls), (
        "the code makes a storage call the results-writer role does not allow: "
        f"{sorted(STORAGE_CALLS_NOT_GRANTED & set(calls))}"
    )
    needed = {
        p
        for name in calls
        if name in STORAGE_CALL_PERMISSIONS
        for p in STORAGE_CALL_PERMISSIONS[name]
    }
    # An upload with a checksum makes the client delete the object when the checksum differs.
    if any(k.arg == "checksum" for c in calls.get("upload_from_file", []) for k in c.keywords):
        needed.add("storage.objects.delete")
    assert needed, "found no storage call in edges/gcs.py"
    return needed


def test_results_writer_role_holds_what_the_code_uses_and_no_more(root: tf.Module) -> None:
    role = root.resource("google_project_iam_custom_role", "results_writer").body
    granted = set(role["permissions"])
    needed = _needed_storage_permissions()
    assert needed <= granted, f"missing: {sorted(needed - granted)}"
    assert granted <= {
        "storage.objects.create",
        "storage.objects.get",
        "storage.objects.list",
        "storage.objects.delete",
    }
    assert granted - needed == set(), f"granted but unused by the code: {granted - needed}"


def test_results_writer_role_is_bound_on_the_results_bucket_only(
    root: tf.Module, modules: dict[str, Any]
) -> None:
    call = root.module_calls["results_bucket"]
    assert call["object_writer_role"] == "${google_project_iam_custom_role.results_writer.name}"
    assert call["writers"] == {"runtime": RUNTIME}
    writer = modules["results_bucket"].resource("google_storage_bucket_iam_member", "writer").body
    assert writer["bucket"] == "${google_storage_bucket.results.name}"
    assert writer["role"] == "${var.object_writer_role}"
    assert writer["member"] == "${each.value}"


def test_runtime_enqueues_on_each_poll_queue_only(root: tf.Module, modules: dict[str, Any]) -> None:
    path = EDGES / "cloud_tasks.py"
    if not path.exists():
        pytest.skip("functions/jobcourier/edges/cloud_tasks.py does not exist yet")
    calls = set(_calls(path))
    assert not TASKS_CALLS_NOT_GRANTED & calls, sorted(TASKS_CALLS_NOT_GRANTED & calls)
    roles = {TASKS_CALL_ROLES[name] for name in calls if name in TASKS_CALL_ROLES}
    assert roles == {"roles/cloudtasks.enqueuer", "roles/cloudtasks.viewer"}

    for variable, resource, role in (
        ("enqueuers", "enqueuer", "roles/cloudtasks.enqueuer"),
        ("viewers", "viewer", "roles/cloudtasks.viewer"),
    ):
        assert root.module_calls["poll_queue"][variable] == {"runtime": RUNTIME}
        binding = modules["poll_queue"].resource("google_cloud_tasks_queue_iam_member", resource)
        assert binding.body["role"] == role
        assert binding.body["name"] == "${google_cloud_tasks_queue.queue.name}"
        assert binding.body["for_each"] == f"${{var.{variable}}}"


def test_only_the_runtime_acts_as_and_only_scheduler_mints_tokens_for_the_invoker(
    root: tf.Module,
) -> None:
    """Two grants on the invoker account, each for one member: the runtime account may put its
    OIDC token on tasks (actAs), and Cloud Scheduler's service agent may mint its OIDC token for
    the sweep job (getOpenIdToken, nothing more: no access tokens, no actAs)."""
    path = EDGES / "cloud_tasks.py"
    if path.exists():
        assert "OidcToken" in path.read_text(encoding="utf-8"), "tasks carry no OIDC token?"
    bindings = root.of_type("google_service_account_iam_member")
    assert sorted(
        (b.body["service_account_id"], b.body["role"], b.body["member"]) for b in bindings
    ) == [
        (
            "${google_service_account.invoker.name}",
            "roles/iam.serviceAccountOpenIdTokenCreator",
            "${local.scheduler_service_agent}",
        ),
        ("${google_service_account.invoker.name}", "roles/iam.serviceAccountUser", RUNTIME),
    ]
    assert root.locals["scheduler_service_agent"] == (
        "serviceAccount:service-${data.google_project.project.number}"
        "@gcp-sa-cloudscheduler.iam.gserviceaccount.com"
    )


def test_the_invoker_account_holds_run_invoker_on_the_main_function_and_nothing_else(
    modules: dict[str, Any],
) -> None:
    """Poll tasks and the sweep job carry the invoker's token: whatever it may do, anyone who
    can create a task or a job with it may do. So: one grant, invoke the main function."""
    grants = [
        (block.address, block.body.get("role"), block.body.get("name"))
        for block in tf.all_blocks(modules)
        if any(INVOKER in str(v) for k, v in tf.walk(block.body) if k in {"member", "members"})
    ]
    assert grants == [
        (
            "google_cloud_run_v2_service_iam_member.poll_task_invoker",
            "roles/run.invoker",
            MAIN_SERVICE,
        )
    ]
    for name, call in modules[""].module_calls.items():
        assert INVOKER not in str(call), f"module.{name} is given the invoker account"


def test_runtime_reads_each_provider_key_secret_only(root: tf.Module) -> None:
    binding = root.resource("google_secret_manager_secret_iam_member", "runtime_reads_provider_key")
    assert binding.body["for_each"] == "${google_secret_manager_secret.provider_key}"
    assert binding.body["secret_id"] == "${each.value.secret_id}"
    assert binding.body["role"] == "roles/secretmanager.secretAccessor"
    assert binding.body["member"] == RUNTIME


MAIN_SERVICE = "${module.main_function.service}"
WEBHOOK_SERVICE = "${module.webhook_function.service}"
# The single public grant of the deployment (docs/deploy.md, "Webhooks"): providers call back
# unsigned, so the webhook function's Cloud Run service, and nothing else, is open to allUsers.
PUBLIC_BINDINGS = {
    ("google_cloud_run_v2_service_iam_member.webhooks_public", "allUsers"),
}
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


def _run_invoker_bindings(root: tf.Module) -> dict[str, dict[str, Any]]:
    return {b.name: b.body for b in root.of_type("google_cloud_run_v2_service_iam_member")}


def test_invoker_may_invoke_the_main_function_only(root: tf.Module) -> None:
    bindings = _run_invoker_bindings(root)
    assert bindings, "no run.invoker binding"
    for binding in bindings.values():
        assert binding["role"] == "roles/run.invoker"
    on_main = {n: b for n, b in bindings.items() if b["name"] == MAIN_SERVICE}
    assert set(on_main) == {"poll_task_invoker", "caller"}
    assert on_main["poll_task_invoker"]["member"] == INVOKER
    assert on_main["caller"]["member"] == "${each.value}"
    assert on_main["caller"]["for_each"] == "${toset(var.invoker_members)}"
    # Nobody but the public gets the webhook function: not the invoker (tasks go to the main
    # function's /poll), not invoker_members (they have the main function).
    on_webhooks = {n: b for n, b in bindings.items() if b["name"] == WEBHOOK_SERVICE}
    assert {(n, b["member"]) for n, b in on_webhooks.items()} == {("webhooks_public", "allUsers")}
    assert set(bindings) == set(on_main) | set(on_webhooks), "a binding on another service"


def _public_grants(modules: dict[str, Any]) -> set[tuple[str, str]]:
    found = set()
    for block in tf.all_blocks(modules):
        for key, value in tf.walk(block.body):
            if key in {"member", "members"}:
                for member in PUBLIC_MEMBERS:
                    if member in str(value):
                        found.add((block.address, member))
    return found


def test_unauthenticated_invocation_only_on_the_webhook_function(modules: dict[str, Any]) -> None:
    assert _public_grants(modules) == PUBLIC_BINDINGS
    validation = modules[""].variables["invoker_members"]["validation"]
    assert "allUsers" in str(validation) and "allAuthenticatedUsers" in str(validation)


def test_the_public_check_catches_allusers_anywhere_else(modules: dict[str, Any]) -> None:
    """The test above must fail if allUsers appears anywhere but the webhook binding."""
    planted = tf.Block(
        "resource",
        "google_cloud_run_v2_service_iam_member",
        "oops",
        {"name": MAIN_SERVICE, "role": "roles/run.invoker", "member": "allUsers"},
        "",
    )
    extra = tf.Module(path=INFRA, resources=[planted])
    assert _public_grants({**modules, "planted": extra}) != PUBLIC_BINDINGS
    nested = tf.Block(
        "resource",
        "google_storage_bucket_iam_member",
        "oops",
        {"bucket": "b", "role": "roles/storage.objectViewer", "members": ["allAuthenticatedUsers"]},
        "",
    )
    extra = tf.Module(path=INFRA, resources=[nested])
    assert _public_grants({**modules, "planted": extra}) != PUBLIC_BINDINGS


def test_public_grant_is_invoke_only_and_on_the_webhook_service(root: tf.Module) -> None:
    public = root.resource("google_cloud_run_v2_service_iam_member", "webhooks_public").body
    public = {k: v for k, v in public.items() if not k.startswith("__")}  # python-hcl2 markers
    assert public == {
        "project": "${var.project_id}",
        "location": "${var.region}",
        "name": WEBHOOK_SERVICE,
        "role": "roles/run.invoker",
        "member": "allUsers",
    }
    env = tf.function_call(root, "webhook_function")["environment_variables"]
    assert env["JOBCOURIER_WEBHOOKS_ONLY"] == "1", "a public function must serve webhooks only"


def test_no_primitive_role_anywhere(modules: dict[str, Any]) -> None:
    for block in tf.all_blocks(modules):
        for key, value in tf.walk(block.body):
            if key in {"role", "roles"}:
                assert not PRIMITIVE_ROLES & set(re.findall(r"roles/[a-zA-Z.]+", str(value))), (
                    block.address
                )
    texts = [p.read_text(encoding="utf-8") for p in INFRA.rglob("*.tf")]
    texts.append((REPO / "cloudbuild.yaml").read_text(encoding="utf-8"))
    for text in texts:
        assert not re.search(r"roles/(owner|editor|viewer)\b", text)


def test_bindings_are_on_resources_not_the_project(modules: dict[str, Any]) -> None:
    """The only project-level grant is the build account's log writer: build logs have no
    narrower resource to be granted on."""
    project_level = [
        (b.address, b.body["role"])
        for b in tf.all_blocks(modules)
        if b.type
        in {"google_project_iam_member", "google_project_iam_binding", "google_project_iam_policy"}
    ]
    assert project_level == [
        ("google_project_iam_member.build_writes_logs", "roles/logging.logWriter")
    ]
    authoritative = [
        b.address for b in tf.all_blocks(modules) if re.search(r"_iam_(binding|policy)$", b.type)
    ]
    assert authoritative == [], "grant member by member (…_iam_member), never replace a policy"
