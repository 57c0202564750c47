"""The one error tree. `routes.py` maps it to HTTP answers in one place.

JobcourierError
├── ConfigurationError      deployment fault (missing env var or API key)      -> 500
├── BadRequest              the caller's input is wrong, nothing was scheduled -> 400
├── Unauthorized            a webhook without the configured token             -> 401
├── NoRoute                 no such route, or not served by this function      -> 404
├── UnknownJob              no such job was ever submitted                     -> 404
├── Conflict                the job's state forbids it (cancel a succeeded job) -> 409
├── Throttled               too many of something at once: try again later     -> 429
├── InfrastructureError     Cloud Tasks or GCS unreachable: retry this task    -> 503
├── ProviderError           the provider's status API; settled by the decision logic
│   ├── ProviderTransient       connection error, timeout, 5xx, 429 (retry_after)
│   ├── ProviderAuthError       401/403: a key fault, retried with a long backoff
│   ├── JobNotFound             the provider does not know the job -> failed
│   └── ProviderProtocolError   an answer we cannot read (retried, logged)
└── DownloadError           one result file; ends that file, never the process
    ├── DownloadTransient       worth another try (5xx, timeout, checksum mismatch)
    │   └── DownloadExpired         403 on a result link: ask the provider for a fresh one
    └── DownloadRefused         never worth another try (URL not allowed, too large)

A missing API key is a ConfigurationError wherever it is met; a status check that meets one
treats it as it treats a rejected key (ProviderAuthError): the job waits for an operator and is
checked again every ten minutes until its deadline, so adding the secret loses no job.
"""

from __future__ import annotations


class JobcourierError(Exception):
    """Root of every error jobcourier raises on purpose."""


class ConfigurationError(JobcourierError):
    pass


class BadRequest(JobcourierError):
    pass


class Unauthorized(JobcourierError):
    pass


class NoRoute(JobcourierError):
    pass


class UnknownJob(JobcourierError):
    pass


class Conflict(JobcourierError):
    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.details = details  # added to the answer's body beside "error"


class Throttled(JobcourierError):
    pass


class InfrastructureError(JobcourierError):
    pass


class ProviderError(JobcourierError):
    pass


class ProviderTransient(ProviderError):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ProviderAuthError(ProviderError):
    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class JobNotFound(ProviderError):
    pass


class ProviderProtocolError(ProviderError):
    pass


class DownloadError(JobcourierError):
    pass


class DownloadTransient(DownloadError):
    pass


class DownloadExpired(DownloadTransient):
    pass


class DownloadRefused(DownloadError):
    pass
