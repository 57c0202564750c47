"""Poll tasks through google-cloud-tasks: the only module that imports it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import grpc
from google.api_core import exceptions as api_exceptions
from google.api_core import retry as api_retry
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport
from google.protobuf import duration_pb2, timestamp_pb2

from jobcourier.config import Config
from jobcourier.errors import InfrastructureError
from jobcourier.limits import DISPATCH_DEADLINE
from jobcourier.ports import QueuedTask

log = logging.getLogger(__name__)

# Task names are deterministic, so resending a create is safe: a create that did land answers
# ALREADY_EXISTS the second time. Bounded, so an outage answers 503 within seconds.
CREATE_RETRY = api_retry.Retry(
    predicate=api_retry.if_exception_type(
        api_exceptions.ServiceUnavailable, api_exceptions.DeadlineExceeded
    ),
    initial=0.2,
    maximum=2.0,
    timeout=10.0,
)
TRANSIENT = (
    api_exceptions.ServiceUnavailable,
    api_exceptions.DeadlineExceeded,
    api_exceptions.InternalServerError,
    api_exceptions.TooManyRequests,
    api_exceptions.Unknown,
    api_exceptions.RetryError,
)


class CloudTasksScheduler:
    def __init__(self, client: tasks_v2.CloudTasksClient, config: Config) -> None:
        self._client = client
        self._config = config

    @classmethod
    def from_config(cls, config: Config) -> CloudTasksScheduler:
        if config.tasks_emulator_host:
            channel = grpc.insecure_channel(config.tasks_emulator_host)
            client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
        else:
            client = tasks_v2.CloudTasksClient()
        return cls(client, config)

    def schedule(self, provider: str | None, task_id: str, body: bytes, at: datetime) -> bool:
        queue = self._config.queue_for(provider)
        url = f"{self._config.self_url}/poll"
        http_request = tasks_v2.HttpRequest(
            http_method=tasks_v2.HttpMethod.POST,
            url=url,
            headers={"Content-Type": "application/json"},
            body=body,
        )
        if self._config.invoker_sa:
            http_request.oidc_token = tasks_v2.OidcToken(
                service_account_email=self._config.invoker_sa,
                audience=self._config.self_url,
            )
        schedule_time = timestamp_pb2.Timestamp()
        schedule_time.FromDatetime(at.astimezone(UTC))
        task = tasks_v2.Task(
            name=f"{queue}/tasks/{task_id}",
            http_request=http_request,
            schedule_time=schedule_time,
            dispatch_deadline=duration_pb2.Duration(seconds=int(DISPATCH_DEADLINE.total_seconds())),
        )
        try:
            self._client.create_task(parent=queue, task=task, retry=CREATE_RETRY, timeout=20.0)
        except api_exceptions.AlreadyExists:
            log.info("task %s exists already: a duplicate delivery or submission", task_id)
            return False
        except TRANSIENT as exc:
            raise InfrastructureError(f"Cloud Tasks unavailable: {exc.__class__.__name__}") from exc
        except api_exceptions.GoogleAPICallError as exc:
            # Permission denied, queue not found: a deployment fault that a retry may outlive
            # (IAM propagation); never an answer to treat as scheduled.
            raise InfrastructureError(f"Cloud Tasks refused the task: {exc.message}") from exc
        return True

    def queued(self) -> Iterator[QueuedTask]:
        for queue in self._config.queues:
            request = tasks_v2.ListTasksRequest(
                parent=queue, response_view=tasks_v2.Task.View.FULL, page_size=1000
            )
            try:
                for task in self._client.list_tasks(
                    request=request, retry=CREATE_RETRY, timeout=30.0
                ):
                    at = task.schedule_time
                    moment = (
                        datetime.fromtimestamp(at.timestamp(), UTC) if at else datetime.now(UTC)
                    )
                    yield QueuedTask(body=bytes(task.http_request.body), at=moment)
            except TRANSIENT as exc:
                raise InfrastructureError(
                    f"Cloud Tasks unavailable: {exc.__class__.__name__}"
                ) from exc
            except api_exceptions.GoogleAPICallError as exc:
                raise InfrastructureError(
                    f"Cloud Tasks refused to list tasks: {exc.message}"
                ) from exc
