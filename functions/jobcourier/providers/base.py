"""What a provider adapter is, and the one place provider HTTP answers are classified."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from jobcourier.errors import (
    JobNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderProtocolError,
    ProviderTransient,
)
from jobcourier.model import Observation, Output
from jobcourier.pacing import Pacing
from jobcourier.ports import ApiResponse, ProviderApi


class Provider(Protocol):
    name: str
    default_base_url: str
    pacing: Pacing
    # For providers that call back: the job id in a webhook body (raises BadRequest), else None.
    webhook_job_id: Callable[[Any], str] | None

    def auth_headers(self, api_key: str) -> dict[str, str]: ...

    def check(self, api: ProviderApi, job_id: str) -> Observation:
        """One status check, mapped to the canonical set. Raises ProviderError subclasses."""
        ...

    def resolve_url(self, api: ProviderApi, output: Output) -> str:
        """The URL to download an output from, asked anew each time (links expire)."""
        ...


def direct_url(api: ProviderApi, output: Output) -> str:
    """For providers whose status answer holds the download URL itself."""
    if not output.url:
        raise ProviderProtocolError("an output without a URL")
    return output.url


def raise_for_status(
    response: ApiResponse, *, not_found: frozenset[int] = frozenset({404})
) -> None:
    """Transient: 5xx, 429 and 408. Key fault: 401/403. Unknown job: `not_found`."""
    code = response.status_code
    if 200 <= code < 300:
        return
    error: ProviderError
    if code in not_found:
        error = JobNotFound(f"the provider does not know this job (HTTP {code})")
    elif code in (401, 403):
        error = ProviderAuthError(f"the provider refused our API key (HTTP {code})", code)
    elif code >= 500 or code in (408, 429):
        error = ProviderTransient(
            f"the provider is unavailable (HTTP {code})", retry_after_s=_retry_after(response)
        )
    else:
        error = ProviderProtocolError(f"unexpected HTTP {code} from the status API")
    raise error


def _retry_after(response: ApiResponse) -> float | None:
    value = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max((moment - datetime.now(UTC)).total_seconds(), 0.0)
