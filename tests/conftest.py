import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "data" / "sample"

IS_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
postgres_only = pytest.mark.skipif(
    not IS_POSTGRES, reason="needs PostgreSQL: set DATABASE_URL to a postgres:// URL"
)


def run_python(code: str, *, env: dict | None = None, timeout: float = 60):
    """Run ``code`` in a fresh interpreter at the project root, with ``env`` added to a minimal
    environment (none of this process's settings, no .env file); return the CompletedProcess."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    base.update({"ENV_FILE": "/nonexistent/.env", "PYTHONPATH": str(ROOT)})
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def admin_client_logged_in(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client
