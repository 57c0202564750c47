"""When to check next: pure functions of a provider's pacing and the job's history.

Delays here are in unscaled provider seconds; the courier multiplies by JOBCOURIER_DELAY_SCALE.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

MAX_SCHEDULE_AHEAD_S = 30 * 24 * 3600 - 3600  # Cloud Tasks refuses schedule_time > 30 days ahead
AUTH_FAULT_DELAY_S = 600.0  # a rejected key waits for an operator, not for the provider


@dataclass(frozen=True)
class Pacing:
    first_check_s: float  # from submission to the first check
    min_interval_s: float  # never two checks of one job closer than this
    max_interval_s: float  # backoff cap
    factor: float  # backoff growth per check
    jitter: float  # +/- fraction, spreads jobs submitted together
    default_deadline_s: float  # when the submission names none


@dataclass(frozen=True)
class History:
    """What the task carries about the job so far. Seconds are provider seconds (unscaled)."""

    checks: int  # status checks done, this one included
    elapsed_s: float  # since submission
    progress: tuple[tuple[float, float], ...] = ()  # (elapsed_s, fraction 0..1), oldest first


def first_delay(pacing: Pacing) -> float:
    return pacing.first_check_s


def next_delay(
    pacing: Pacing,
    history: History,
    *,
    retry_after_s: float | None = None,
    auth_fault: bool = False,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds from this check to the next one of the same job (capped exponential, jittered)."""
    base = pacing.min_interval_s * pacing.factor ** max(history.checks - 1, 0)
    delay = min(base, pacing.max_interval_s)
    delay *= 1 + pacing.jitter * (2 * rand() - 1)
    if auth_fault:
        delay = max(delay, AUTH_FAULT_DELAY_S)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return min(max(delay, pacing.min_interval_s), MAX_SCHEDULE_AHEAD_S)
