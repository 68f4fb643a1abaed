"""bin/smoke against deployments that are not there: FAIL lines, never a traceback."""

import socket
import subprocess
import sys
import threading

from tests.conftest import ROOT
from tests.servers import free_port


def smoke(url: str):
    return subprocess.run(
        [sys.executable, str(ROOT / "bin" / "smoke"), url],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_server_down__a_fail_line_and_exit_1():
    port = free_port()
    result = smoke(f"http://127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stdout == (
        f"FAIL server: http://127.0.0.1:{port}/healthz did not answer: [Errno 111] Connection "
        "refused (remaining checks skipped)\n"
    )
    assert result.stderr == ""


def test_url_without_scheme__a_fail_line_and_exit_1():
    result = smoke("catalog.example.com")
    assert result.returncode == 1
    assert result.stdout == (
        "FAIL url: 'catalog.example.com' is not an http:// or https:// URL "
        "(e.g. https://ai-catalog.onrender.com)\n"
    )
    assert result.stderr == ""


def test_server_that_hangs_up__a_fail_line_and_exit_1():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def hang_up():
        connection, _ = listener.accept()
        connection.recv(1024)
        connection.close()

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        result = smoke(f"http://127.0.0.1:{port}")
    finally:
        listener.close()
    assert result.returncode == 1
    assert result.stdout.startswith(f"FAIL server: http://127.0.0.1:{port}/healthz did not answer")
    assert "Traceback" not in result.stderr
