"""A provider's pacing (how often one job may be checked), and the operator's overrides of it
(JOBCOURIER_PACING). Each provider module declares its `Pacing`; the policy (policy.py)
reads it. The values and the benchmark behind them: docs/scheduling.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Any

from jobcourier.errors import ConfigurationError
from jobcourier.limits import MAX_DEADLINE, MAX_SCHEDULE_AHEAD

Overrides = Mapping[str, Mapping[str, float | bool]]  # provider -> field -> value


@dataclass(frozen=True)
class Pacing:
    """One provider's pacing; every field can be overridden with JOBCOURIER_PACING."""

    # from submission to the first check while no durations are known (one later than the
    # target waits only the target: a job done at once would wait longer)
    first_check_s: float
    min_interval_s: float  # never two checks of one job closer than this
    max_interval_s: float  # backoff cap, and the longest wait any estimate may ask for
    factor: float  # backoff growth per check
    jitter: float  # fraction a first check or a backoff may come sooner: spreads jobs
    default_deadline_s: float  # when the submission names none
    # The aim: at most this long between a job finishing and the check that sees it, for 95 %
    # of the provider's jobs, with as few checks as that allows (docs/scheduling.md).
    target_lag_s: float = 50.0
    # Durations of recent jobs (in-process memory), where the instance has seen enough of them:
    learn: bool = True
    # The first check no later than when this share of recent jobs was done; each later one
    # no later than when this share of the recent jobs still running by then was (1: when all
    # were; the target usually decides sooner).
    first_quantile: float = 1.0
    next_quantile: float = 1.0
    # Progress the provider reports: check this fraction of the predicted duration after the
    # predicted completion (a little late beats an extra check a little early; progress in
    # whole percents already puts the prediction up to 1 % late).
    use_progress: bool = True
    eta_margin: float = 0.005

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_field(f.name, getattr(self, f.name), "Pacing")
        if self.max_interval_s < self.min_interval_s:
            raise ConfigurationError(
                f"Pacing: max_interval_s ({self.max_interval_s}) must not be below "
                f"min_interval_s ({self.min_interval_s})"
            )


_AHEAD_S = MAX_SCHEDULE_AHEAD.total_seconds()
_FLOAT_RANGES: Mapping[str, tuple[float, float, str]] = MappingProxyType(
    {
        # field: (lowest, highest, what the message says)
        "first_check_s": (0.0, _AHEAD_S, "between 0 and 30 days"),
        "min_interval_s": (1e-3, _AHEAD_S, "above 0 and at most 30 days"),
        "max_interval_s": (1e-3, _AHEAD_S, "above 0 and at most 30 days"),
        "factor": (1.0, 100.0, "between 1 and 100"),
        "jitter": (0.0, 0.5, "between 0 and 0.5"),
        "default_deadline_s": (1e-3, MAX_DEADLINE.total_seconds(), "above 0 and at most 30 days"),
        "first_quantile": (0.5, 1.0, "between 0.5 and 1"),
        "next_quantile": (0.5, 1.0, "between 0.5 and 1"),
        "eta_margin": (0.0, 1.0, "between 0 and 1"),
        "target_lag_s": (1.0, _AHEAD_S, "at least 1 and at most 30 days"),
    }
)
_BOOL_FIELDS = frozenset({"learn", "use_progress"})
_REPLACED = MappingProxyType({"max_lag_s": "target_lag_s (the p95 lag to aim at, in seconds)"})


def _check_field(name: str, value: Any, where: str) -> None:
    if name in _BOOL_FIELDS:
        if not isinstance(value, bool):
            raise ConfigurationError(f"{where}: {name} must be true or false. Found: {value!r}")
        return
    low, high, words = _FLOAT_RANGES[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{where}: {name} must be a number. Found: {value!r}")
    if not low <= value <= high:
        raise ConfigurationError(f"{where}: {name} must be {words}. Found: {value!r}")


def parse_overrides(
    raw: str, providers: Collection[str] = (), *, source: str = "JOBCOURIER_PACING"
) -> Overrides:
    """Parse `{"fliki": {"first_check_s": 45, "max_interval_s": 600}, ...}`; empty: none.

    Checks the JSON, the provider names (when `providers` is given), the field names and each
    value's range; how fields relate (min <= max) is checked once applied (`with_overrides`)."""
    if not raw.strip():
        return MappingProxyType({})
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{source} must be JSON. Found invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"{source} must be a JSON object of providers. Found: {type(data).__name__}"
        )
    known = sorted(_BOOL_FIELDS | set(_FLOAT_RANGES))
    parsed: dict[str, Mapping[str, float | bool]] = {}
    for provider, overrides in data.items():
        if providers and provider not in providers:
            raise ConfigurationError(
                f"{source}: unknown provider {provider!r}; expected one of {sorted(providers)}"
            )
        if not isinstance(overrides, dict):
            raise ConfigurationError(
                f"{source}: {provider} must map field names to values. Found: {overrides!r}"
            )
        for name, value in overrides.items():
            if name in _REPLACED:
                raise ConfigurationError(
                    f"{source}: {provider}.{name} was replaced by {_REPLACED[name]}"
                )
            if name not in known:
                raise ConfigurationError(
                    f"{source}: unknown field {provider}.{name}; expected one of {known}"
                )
            _check_field(name, value, f"{source}: {provider}")
        parsed[provider] = MappingProxyType(
            {k: v if k in _BOOL_FIELDS else float(v) for k, v in overrides.items()}
        )
    return MappingProxyType(parsed)


def with_overrides(pacing: Pacing, overrides: Mapping[str, float | bool]) -> Pacing:
    """`pacing` with the fields `overrides` names; raises ConfigurationError when the result
    does not hold together (max_interval_s below min_interval_s)."""
    # parse_overrides() checked every name and type; mypy cannot see that through **.
    return replace(pacing, **overrides) if overrides else pacing  # type: ignore[arg-type]
