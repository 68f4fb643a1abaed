"""`make run` as a new user runs it, then a status write: the checkout stays clean."""

import os
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

from tests.conftest import ROOT
from tests.servers import free_port


def _git_status() -> set[str]:
    result = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(result.stdout.splitlines())


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout"
)
def test_make_run_then_a_put__leaves_git_status_unchanged():
    before = _git_status()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env |= {"PORT": str(port), "STATUS_WRITE_TOKEN": "make-run-token", "ENV_FILE": "/nonexistent"}
    process = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert time.monotonic() < deadline, "make run did not serve in time"
            assert process.poll() is None, "make run exited"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/models/openai-o3/status",
            data=b'{"status": "degraded", "region": "make-run"}',
            method="PUT",
            headers={
                "Authorization": "Bearer make-run-token",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            assert response.status == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    assert _git_status() == before
