"""gcloud-tasks-emulator in its own virtualenv (it pins protobuf<5), bound to 127.0.0.1.

The emulator really dispatches HTTP tasks and honours schedule_time. It does not check OIDC
tokens or back off between retries, and by itself it does not deduplicate task names: the
launcher below adds that (see README, "What the emulators cannot show").
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from devstack.processes import ROOT, Process, free_port, port_open

VENV = ROOT / ".venv-tasks-emulator"
REQUIREMENTS = Path(__file__).with_name("tasks-emulator.requirements.txt")
STAMP = VENV / "requirements.installed"

# Run with the emulator's own interpreter: the stock entry point binds [::], so bind loopback.
LAUNCHER = """
import sys, time, logging
from gcloud_tasks_emulator import server
port, queues = int(sys.argv[1]), sys.argv[2:]
class LoopbackAPI(server.APIThread):
    def run(self):
        self._httpd = server.grpc.server(server.futures.ThreadPoolExecutor(max_workers=4))
        server.add_CloudTasksServicer_to_server(server.Greeter(self._state), self._httpd)
        self._httpd.add_insecure_port(f"127.0.0.1:{self._port}")
        self._httpd.start()
        self._is_running.set()
        while self._is_running.is_set():
            time.sleep(0.1)
server.APIThread = LoopbackAPI
# Cloud Tasks refuses a task name it has seen (ALREADY_EXISTS); the emulator does not. Without
# it a chain forks when an invocation dies after creating its next task. Names are remembered
# for the emulator's life (Cloud Tasks: about an hour after the task ran).
from google.api_core.exceptions import AlreadyExists
seen_names = set()
create_task = server.QueueState.create_task
def create_task_once(self, queue, task):
    if task.name:
        if task.name in seen_names:
            raise AlreadyExists(f"Requested entity already exists: {task.name}")
        seen_names.add(task.name)
    return create_task(self, queue, task)
server.QueueState.create_task = create_task_once
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
srv = server.create_server("127.0.0.1", port, "127.0.0.1", 80, queues, -1)
srv.run()
"""


def ensure_venv() -> Path:
    """Create the emulator's virtualenv from the pinned, hashed requirements (once)."""
    python = VENV / "bin" / "python"
    wanted = REQUIREMENTS.read_bytes()
    if python.exists() and STAMP.exists() and STAMP.read_bytes() == wanted:
        return python
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is not on PATH: run through scripts/local or scripts/test")
    subprocess.run(
        [uv, "venv", "-q", "--allow-existing", "--python", "3.11", str(VENV)], check=True
    )
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "--python",
            str(python),
            "--require-hashes",
            "-r",
            str(REQUIREMENTS),
        ],
        check=True,
    )
    STAMP.write_bytes(wanted)
    return python


class TasksEmulator:
    def __init__(self, queues: list[str], log_dir: Path) -> None:
        python = ensure_venv()
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._process = Process(
            "tasks-emulator",
            [str(python), "-c", LAUNCHER, str(self.port), *queues],
            log_dir=log_dir,
            ready=lambda: port_open(self.port),
        )

    def stop(self) -> None:
        self._process.stop()
