"""Every environment variable the function reads, bound in this one place
(docs/contract.md#configuration)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from jobcourier.callbacks import parse_secret
from jobcourier.errors import ConfigurationError
from jobcourier.pacing import Overrides, parse_overrides
from jobcourier.providers import REGISTRY

PROVIDERS = tuple(REGISTRY)  # each names its own variables below

BUCKET = "JOBCOURIER_BUCKET"
QUEUE = "JOBCOURIER_QUEUE"
SELF_URL = "JOBCOURIER_SELF_URL"
INVOKER_SA = "JOBCOURIER_INVOKER_SA"
DELAY_SCALE = "JOBCOURIER_DELAY_SCALE"
ALLOW_PRIVATE_URLS = "JOBCOURIER_ALLOW_PRIVATE_URLS"
PACING = "JOBCOURIER_PACING"  # JSON overrides of providers' pacing (docs/scheduling.md)
WEBHOOK_TOKEN = "JOBCOURIER_WEBHOOK_TOKEN"  # noqa: S105 - a variable name; webhooks carry ?token=
WEBHOOKS_ONLY = "JOBCOURIER_WEBHOOKS_ONLY"  # "1": serve POST /webhooks/{provider} and nothing else
CALLBACK_SECRET = "JOBCOURIER_CALLBACK_SECRET"  # noqa: S105 - a variable name; signs callbacks
TASKS_EMULATOR_HOST = "CLOUD_TASKS_EMULATOR_HOST"
STORAGE_EMULATOR_HOST = "STORAGE_EMULATOR_HOST"


def queue_env_var(provider: str) -> str:
    """`JOBCOURIER_QUEUE_SPACELY` …: the optional per-provider queue."""
    return f"JOBCOURIER_QUEUE_{provider.upper()}"


def api_key_env_var(provider: str) -> str:
    return f"{provider.upper()}_API_KEY"


def base_url_env_var(provider: str) -> str:
    return f"{provider.upper()}_BASE_URL"


ENVIRONMENT_VARIABLES = (
    BUCKET,
    QUEUE,
    SELF_URL,
    INVOKER_SA,
    DELAY_SCALE,
    ALLOW_PRIVATE_URLS,
    PACING,
    WEBHOOK_TOKEN,
    WEBHOOKS_ONLY,
    CALLBACK_SECRET,
    TASKS_EMULATOR_HOST,
    STORAGE_EMULATOR_HOST,
    *(queue_env_var(p) for p in PROVIDERS),
    *(api_key_env_var(p) for p in PROVIDERS),
    *(base_url_env_var(p) for p in PROVIDERS),
)


# For local runs and tests only: a deployment must set none of them (tests/infra checks).
LOCAL_ONLY_VARIABLES = frozenset(
    {
        ALLOW_PRIVATE_URLS,
        TASKS_EMULATOR_HOST,
        STORAGE_EMULATOR_HOST,
        DELAY_SCALE,
        *(base_url_env_var(p) for p in PROVIDERS),
    }
)


@dataclass(frozen=True)
class Config:
    bucket: str
    default_queue: str
    provider_queues: Mapping[str, str]
    self_url: str
    invoker_sa: str | None
    delay_scale: float
    allow_private_urls: bool
    webhook_token: str | None
    webhooks_only: bool
    tasks_emulator_host: str | None
    api_keys: Mapping[str, str]
    base_urls: Mapping[str, str]
    pacing_overrides: Overrides = field(default_factory=dict)
    callback_secret_text: str | None = field(default=None, repr=False)  # whsec_..., for redaction
    callback_secret: bytes | None = field(default=None, repr=False)  # its HMAC key

    def queue_for(self, provider: str | None) -> str:
        """The provider's queue; None (callbacks), or a provider without one: the default."""
        return (provider and self.provider_queues.get(provider)) or self.default_queue

    @property
    def queues(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([self.default_queue, *self.provider_queues.values()]))

    @property
    def project(self) -> str:
        """The Google Cloud project, from the default queue's name."""
        return self.default_queue.split("/")[1]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        return cls(
            bucket=_required(env, BUCKET),
            default_queue=_queue_name(env, QUEUE, _required(env, QUEUE)),
            provider_queues={
                p: _queue_name(env, queue_env_var(p), env[queue_env_var(p)])
                for p in PROVIDERS
                if env.get(queue_env_var(p))
            },
            self_url=_required(env, SELF_URL).rstrip("/"),
            invoker_sa=env.get(INVOKER_SA) or None,
            delay_scale=_delay_scale(env),
            allow_private_urls=env.get(ALLOW_PRIVATE_URLS) == "1",
            webhook_token=_webhook_token(env),
            callback_secret_text=env.get(CALLBACK_SECRET, "").strip() or None,
            callback_secret=_callback_secret(env),
            webhooks_only=env.get(WEBHOOKS_ONLY) == "1",
            tasks_emulator_host=env.get(TASKS_EMULATOR_HOST) or None,
            api_keys=_api_keys(env),
            base_urls={
                p: env[base_url_env_var(p)].rstrip("/")
                for p in PROVIDERS
                if env.get(base_url_env_var(p))
            },
            pacing_overrides=parse_overrides(env.get(PACING, ""), PROVIDERS, source=PACING),
        )


def _api_keys(env: Mapping[str, str]) -> dict[str, str]:
    """Each provider's key, stripped (a secret version often ends in a newline, which no
    HTTP header may carry)."""
    keys = {}
    for provider in PROVIDERS:
        name = api_key_env_var(provider)
        key = env.get(name, "").strip()
        if not key:
            continue
        if not key.isprintable() or not key.isascii():
            raise ConfigurationError(
                f"{name} must be printable ASCII (it goes into an HTTP "
                "header). Found: other characters"
            )
        keys[provider] = key
    return keys


def _webhook_token(env: Mapping[str, str]) -> str | None:
    token = env.get(WEBHOOK_TOKEN, "").strip()  # a secret version often ends in a newline
    if env.get(WEBHOOKS_ONLY) == "1" and not token:
        raise ConfigurationError(
            f"{WEBHOOKS_ONLY}=1 needs {WEBHOOK_TOKEN}: a public webhook endpoint without a "
            "token would admit every callback. Found: unset or empty"
        )
    if token and len(token) < 16:
        raise ConfigurationError(
            f"{WEBHOOK_TOKEN} must be at least 16 characters. Found: {len(token)}"
        )
    return token or None


def _callback_secret(env: Mapping[str, str]) -> bytes | None:
    text = env.get(CALLBACK_SECRET, "").strip()
    return parse_secret(text, source=CALLBACK_SECRET) if text else None


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is required. Found: unset or empty")
    return value


def _queue_name(env: Mapping[str, str], name: str, value: str) -> str:
    parts = value.split("/")
    if len(parts) != 6 or parts[0::2] != ["projects", "locations", "queues"] or "" in parts:
        raise ConfigurationError(
            f"{name} must be a full queue name 'projects/P/locations/L/queues/Q'. Found: {value!r}"
        )
    return value


def _delay_scale(env: Mapping[str, str]) -> float:
    raw = env.get(DELAY_SCALE, "1")
    try:
        scale = float(raw)
    except ValueError:
        scale = -1.0
    if not 0 < scale <= 1000:
        raise ConfigurationError(f"{DELAY_SCALE} must be a number in (0, 1000]. Found: {raw!r}")
    return scale
