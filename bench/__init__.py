"""Benchmark of the scheduling policy: a simulator in simulated time that runs the real policy
(jobcourier.policy through its Planner, with the providers' pacing) against the baselines.
See docs/scheduling.md.

`python -m bench.schedule` runs from the repository root: the function's source root
(functions/, where `jobcourier` lives) is put on the path here, as pytest's config does.
"""

import sys
from pathlib import Path

_FUNCTIONS = str(Path(__file__).resolve().parent.parent / "functions")
if _FUNCTIONS not in sys.path:
    sys.path.append(_FUNCTIONS)
