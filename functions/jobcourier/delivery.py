"""Copying a finished job's outputs into the bucket, within one invocation's time.

`deliver` tries each output once and says what came of it (`Delivery`); whether that settles
the job or asks for another invocation is the courier's decision, not this module's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from jobcourier import naming
from jobcourier.errors import (
    DownloadExpired,
    DownloadRefused,
    DownloadTransient,
    JobNotFound,
    ProviderError,
)
from jobcourier.limits import COPY_CUTOFF, DELIVERY_BUDGET
from jobcourier.model import JobKey, Output, StoredFile
from jobcourier.ports import Downloader, ProviderApi, Store
from jobcourier.providers.base import Provider
from jobcourier.text import shorten

log = logging.getLogger(__name__)

MAX_OUTPUTS = 100  # file names carry a two-digit index


@dataclass(frozen=True)
class Delivery:
    """What one invocation's copy came to."""

    stored: tuple[StoredFile, ...] = ()  # in the provider's order, earlier copies included
    failed: tuple[str, ...] = ()  # outputs that will never arrive, each with its reason
    retry: tuple[str, ...] = ()  # outputs worth another try, each with its reason
    out_of_time: bool = False  # DELIVERY_BUDGET ran out before every output was tried


def deliver(
    *,
    key: JobKey,
    outputs: Sequence[Output],
    provider: Provider,
    api: ProviderApi,
    store: Store,
    downloader: Downloader,
    clock: Callable[[], datetime],
) -> Delivery:
    """Copy every output not stored yet; files an earlier (crashed) delivery stored are kept."""
    present = store.stored_files(key)
    stored: list[StoredFile] = []
    failed: list[str] = []
    retry: list[str] = []
    started = clock()
    for index, output in enumerate(outputs):
        if clock() - started > DELIVERY_BUDGET:
            log.info("%s: time budget spent; the next invocation copies the rest", key.folder)
            return Delivery(tuple(stored), tuple(failed), tuple(retry), out_of_time=True)
        if index >= MAX_OUTPUTS:
            failed.append(f"output {index}: more than {MAX_OUTPUTS} outputs")
            continue
        if output.error is not None:
            failed.append(f"output {index}: {shorten(output.error)}")
            continue
        done = next((f for n, f in present.items() if n.startswith(f"{index:02d}.")), None)
        if done is not None:
            stored.append(done)
            continue
        copy = _Copy(key, store, downloader, clock, started)
        try:
            stored.append(copy.output(provider, api, index, output))
        except (DownloadRefused, JobNotFound) as exc:
            failed.append(f"output {index}: {shorten(str(exc))}")
        except (DownloadTransient, ProviderError) as exc:
            retry.append(f"output {index}: {shorten(str(exc))}")
    return Delivery(tuple(stored), tuple(failed), tuple(retry))


@dataclass(frozen=True)
class _Copy:
    key: JobKey
    store: Store
    downloader: Downloader
    clock: Callable[[], datetime]
    started: datetime

    def output(
        self, provider: Provider, api: ProviderApi, index: int, output: Output
    ) -> StoredFile:
        """Stream one output into the bucket; an expired link is asked for once more."""
        url = provider.resolve_url(api, output)
        try:
            return self._stream(index, url)
        except DownloadExpired:
            fresh = provider.resolve_url(api, output)
            if fresh == url:
                raise
            log.info("%s: output %d link expired; fetching a fresh one", self.key.folder, index)
            return self._stream(index, fresh)

    def _stream(self, index: int, url: str) -> StoredFile:
        left = COPY_CUTOFF - (self.clock() - self.started)  # enforced inside each read
        with self.downloader.open(url, time.monotonic() + left.total_seconds()) as download:
            name = naming.result_name(index, download.content_type, url)
            timed = replace(download, chunks=self._cut_off(download.chunks))
            return self.store.store_file(self.key, name, timed, naming.public_url(url))

    def _cut_off(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """The chunks, until the invocation has run COPY_CUTOFF: then a transient failure
        (nothing is stored: the upload is not finished), for the next invocation to retry."""
        for chunk in chunks:
            if self.clock() - self.started > COPY_CUTOFF:
                raise DownloadTransient(f"copy still running {COPY_CUTOFF} into the invocation")
            yield chunk
