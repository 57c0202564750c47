"""Cloud Function entry point: `jobcourier` (docs/contract.md).

Clients are created once per instance, on first use: a check that only reschedules never
imports the storage client.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import flask
import functions_framework

from jobcourier import logsafe, routes
from jobcourier.config import Config, api_key_env_var
from jobcourier.courier import Courier
from jobcourier.errors import ConfigurationError
from jobcourier.planner import Planner
from jobcourier.ports import ProviderApi
from jobcourier.providers import REGISTRY
from jobcourier.providers.base import Provider

if TYPE_CHECKING:  # the edges are imported on first use, not at cold start
    import requests

    from jobcourier.edges.cloud_tasks import CloudTasksScheduler
    from jobcourier.edges.gcs import GcsStore
    from jobcourier.edges.http import SafeDownloader
    from jobcourier.edges.ledger import GcsLedger


@functools.cache
def _config() -> Config:
    config = Config.from_env()
    secrets = [*config.api_keys.values(), *filter(None, [config.webhook_token])]
    if config.callback_secret_text:
        secrets.append(config.callback_secret_text)
    logsafe.install(secrets=secrets)
    return config


@functools.cache
def _session() -> requests.Session:
    from jobcourier.edges.http import new_session

    return new_session()


@functools.cache
def _scheduler() -> CloudTasksScheduler:
    from jobcourier.edges.cloud_tasks import CloudTasksScheduler

    return CloudTasksScheduler.from_config(_config())


@functools.cache
def _store() -> GcsStore:
    from jobcourier.edges.gcs import GcsStore

    return GcsStore.from_bucket_name(_config().bucket)


@functools.cache
def _ledger() -> GcsLedger:
    from jobcourier.edges.ledger import GcsLedger, JsonApiReader

    bucket = _config().bucket

    def objects() -> GcsStore:
        return _store()  # the storage client: created on the first write or listing

    return GcsLedger(bucket, objects, JsonApiReader.for_bucket(bucket))


@functools.cache
def _downloader() -> SafeDownloader:
    from jobcourier.edges.http import SafeDownloader

    return SafeDownloader(allow_private=_config().allow_private_urls)


def _api_for(provider: Provider) -> ProviderApi:
    from jobcourier.edges.http import RequestsProviderApi

    config = _config()
    key = config.api_keys.get(provider.name)
    if not key:
        raise ConfigurationError(f"{api_key_env_var(provider.name)} is not set")
    base_url = config.base_urls.get(provider.name, provider.default_base_url)
    return RequestsProviderApi(_session(), base_url, provider.auth_headers(key))


@functools.cache
def _courier() -> Courier:
    config = _config()
    # Recent durations are remembered by this instance only (lost on a cold start).
    planner = Planner(REGISTRY, config.pacing_overrides, remember=True, scale=config.delay_scale)
    return Courier(
        providers=REGISTRY,
        api_for=_api_for,
        scheduler=_scheduler,
        store=_store,
        ledger=_ledger,
        downloader=_downloader,
        sender=_downloader,  # callbacks go out under the same rules as downloads
        planner=planner,
        callback_secret=config.callback_secret,
    )


def _access() -> routes.Access:
    config = _config()
    return routes.Access(
        webhooks_only=config.webhooks_only,
        webhook_token=config.webhook_token,
        project=config.project,
    )


@functions_framework.http
def jobcourier(request: flask.Request) -> flask.Response:
    return routes.handle(request, _courier, _access)
