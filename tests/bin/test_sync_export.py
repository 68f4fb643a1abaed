"""bin/sync-export (the Render cron job) runs without the virtualenv on PATH."""

import os
import subprocess

from tests.conftest import ROOT, SAMPLE_DIR, manage


def test_without_the_venv_on_path__uses_the_projects_venv(scratch_database):
    url = scratch_database()
    assert manage("migrate", "--noinput", "-v", "0", database_url=url).returncode == 0
    result = subprocess.run(
        ["/bin/sh", str(ROOT / "bin" / "sync-export")],
        cwd="/",  # the script finds the project itself
        env={
            "PATH": "/usr/bin:/bin",  # no .venv/bin: a bare `python` would lack Django
            "HOME": os.environ.get("HOME", "/tmp"),
            "ENV_FILE": "/nonexistent/.env",
            "DEBUG": "true",
            "DATABASE_URL": url,
            "JSON_EXPORT_DIR": str(SAMPLE_DIR),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "PASSED" in result.stdout
