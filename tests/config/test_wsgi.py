import subprocess
import sys

from tests.conftest import ROOT
from tests.servers import free_port


def test_gunicorn_with_an_invalid_variable__halts_with_one_line_naming_it():
    env = {
        "PATH": "/usr/bin:/bin",
        "ENV_FILE": "/nonexistent/.env",
        "DEBUG": "true",
        "BACKEND_STATE_TTL": "abc",
    }
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{free_port()}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 4  # gunicorn's "App failed to load": it does not restart workers
    assert (
        "Configuration error: BACKEND_STATE_TTL='abc' is not valid: use a number of seconds, "
        "0 or more (e.g. 1)." in result.stderr
    )
    assert "Reason: App failed to load." in result.stderr
    assert "Traceback" not in result.stderr
