"""Every limit of time the function keeps, in one place, and how they nest.

One invocation, from the outside in:

    function timeout                   540 s   infra/ (tests/infra ties it to these)
      DISPATCH_DEADLINE                530 s   Cloud Tasks stops waiting for an answer
        COPY_CUTOFF                    8 min   a copy still running is abandoned (retried later)
          DELIVERY_BUDGET              5 min   no new copy starts after it

So an invocation always answers before Cloud Tasks gives up on it. Inside it, each call to a
provider's status API (and each callback POST: CALLBACK_DEADLINE) takes at most 30 s, however
slowly the answer trickles in, and a download ends by COPY_CUTOFF inside its reads, not only
between chunks (edges/http.py). One job, over its life:

    deadline                           the submission's deadline_seconds, or the provider's
      + COPY_GRACE                     30 min  a job the provider finished may still be copied
      + LOST_CHAIN_GRACE               60 min  no manifest by then: its polling chain was lost

A poll task is tried at most MAX_TASK_ATTEMPTS times (the queues' retry_config in infra/); on
the last attempt an outage re-arms the check REARM_DELAY later under a new task name, while the
job's limit allows, and anything else settles what would otherwise be dropped. Nothing is
scheduled further ahead than MAX_SCHEDULE_AHEAD, which Cloud Tasks refuses, so no deadline
exceeds MAX_DEADLINE.

Delays that shape a job (the graces, re-arming, callbacks' backoff, how long an early webhook
is remembered) are scaled by JOBCOURIER_DELAY_SCALE like every delay the function schedules
(planner.scaled); an invocation's own limits and Cloud Tasks' name memory are real time.
"""

from __future__ import annotations

from datetime import timedelta

DISPATCH_DEADLINE = timedelta(seconds=530)
COPY_CUTOFF = timedelta(minutes=8)
DELIVERY_BUDGET = timedelta(minutes=5)
STATUS_CALL_DEADLINE = timedelta(seconds=30)
CALLBACK_DEADLINE = timedelta(seconds=30)  # one callback POST, answer included

COPY_GRACE = timedelta(minutes=30)
LOST_CHAIN_GRACE = COPY_GRACE + timedelta(minutes=30)

MAX_TASK_ATTEMPTS = 12
REARM_DELAY = timedelta(minutes=10)

# Cloud Tasks remembers a used task name for about an hour: a submission retried within this
# long creates the first task again (a duplicate name is refused), later it never does.
RECREATE_FIRST_TASK_WITHIN = timedelta(minutes=30)

# A provider's callback for a job not submitted yet is remembered this long, and at most this
# many per provider at a time (429 past that).
EARLY_WEBHOOK_TTL = timedelta(hours=1)
EARLY_WEBHOOKS_CAP = 1000

# Callbacks to a job's callback_url: retried with backoff from the first to the most, for
# CALLBACK_PATIENCE after the first attempt.
CALLBACK_FIRST_RETRY = timedelta(seconds=30)
CALLBACK_MAX_RETRY = timedelta(hours=1)
CALLBACK_PATIENCE = timedelta(hours=24)

MAX_DEADLINE = timedelta(days=30)
MAX_SCHEDULE_AHEAD = MAX_DEADLINE - timedelta(hours=1)


def is_final_attempt(retry_count: int) -> bool:
    """Whether a task delivery with this X-CloudTasks-TaskRetryCount is the queue's last."""
    return retry_count >= MAX_TASK_ATTEMPTS - 1
