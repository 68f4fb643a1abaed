"""Databases the copy, comparison and backup tests need besides the test database: a SQLite
file built the way `make run` builds one and then used (API writes, an admin edit, rejects, a
prune, switch_backend changes), and scratch PostgreSQL databases named h12b_*."""

import json
import shutil
import uuid

import pytest

from tests.conftest import (
    IS_POSTGRES,
    SAMPLE_DIR,
    _postgres_admin,
    _postgres_url,
    manage,
    run_python,
)

BUILD = r"""
import json, os, sys
import django
django.setup()
from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment
from django.contrib.auth import get_user_model
from catalog.models import ModelStatus

setup_test_environment()
def quiet(*args):
    try:
        call_command(*args, verbosity=0)
    except SystemExit:
        pass
    except Exception as exc:
        if getattr(exc, "returncode", None) != 1:
            raise
quiet("migrate")
quiet("backfill_json", os.environ["SAMPLE"])          # its rejects, kept in the queue
quiet("backfill_json", os.environ["PRUNED"], "--prune", "--force")   # archives a model
quiet("backfill_json", os.environ["SAMPLE"])          # and brings it back
call_command("switch_backend", "dual-write", "on", "--reason", "start the move", verbosity=0)
call_command("switch_backend", "switch", "database", "--force", "--reason", "moved", verbosity=0)
token = {"HTTP_AUTHORIZATION": "Bearer build-token"}
client = Client()
for slug, body in (
    ("openai-o3", {"status": "degraded", "availability": 99.99,
                   "checkedAt": "2026-11-22T10:00:00Z"}),
    ("openai-o3", {"status": "operational", "region": "eu-west-1", "availability": 98.5}),
):
    response = client.put(f"/api/v1/models/{slug}/status", json.dumps(body),
                          content_type="application/json", **token)
    assert response.status_code == 200, response.content
user = get_user_model().objects.create_superuser("builder", "b@example.com", "pw")
admin = Client()
admin.force_login(user)
status = ModelStatus.objects.get(model__slug="anthropic-claude-3-opus", region="global")
page = admin.get(f"/admin/catalog/modelstatus/{status.pk}/change/")
form = page.context["adminform"].form
data = {name: form.initial.get(name) for name in form.fields}
data.update(status="outage", availability="11.25")
data = {k: ("" if v is None else v) for k, v in data.items()}
response = admin.post(f"/admin/catalog/modelstatus/{status.pk}/change/", data)
assert response.status_code == 302, response.content[:2000]
print("built")
"""


@pytest.fixture(scope="session")
def used_sqlite_database(tmp_path_factory):
    """The path of a SQLite database built like `make run` builds one, then used: API writes, an
    admin edit, rejects, a prune (archived), switch_backend changes (audited). Copy it before
    changing it (`sqlite_copy_of`)."""
    folder = tmp_path_factory.mktemp("used-db")
    export = folder / "export"
    shutil.copytree(SAMPLE_DIR, export, ignore=shutil.ignore_patterns("*.md"))
    pruned = folder / "pruned"
    shutil.copytree(SAMPLE_DIR, pruned, ignore=shutil.ignore_patterns("*.md"))
    models = json.loads((pruned / "models.json").read_text())
    models["models"] = [m for m in models["models"] if m["name"] != "Titan Embeddings"]
    (pruned / "models.json").write_text(json.dumps(models))
    path = folder / "used.sqlite3"
    done = run_python(
        BUILD,
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"sqlite:///{path}",
            "DEBUG": "true",
            "JSON_EXPORT_DIR": str(export),
            "STATUS_WRITE_TOKEN": "build-token",
            "WRITE_QUEUE_IN_BACKGROUND": "false",
            "SHADOW_IN_BACKGROUND": "false",
            "COUNTERS_IN_BACKGROUND": "false",
            "WRITE_JOURNAL_DIR": str(folder / "journal"),
            "SAMPLE": str(export),
            "PRUNED": str(pruned),
        },
        timeout=180,
    )
    assert done.returncode == 0 and "built" in done.stdout, done.stderr[-3000:]
    return path


@pytest.fixture
def sqlite_copy_of(tmp_path):
    """``copy(path) -> sqlite URL`` of a private copy of a SQLite database file."""

    def copy(path) -> str:
        target = tmp_path / f"copy-{uuid.uuid4().hex[:6]}.sqlite3"
        shutil.copyfile(path, target)
        return f"sqlite:///{target}"

    return copy


@pytest.fixture
def h12b_postgres():
    """A factory of empty PostgreSQL databases named h12b_<random>; dropped afterwards."""
    if not IS_POSTGRES:
        pytest.skip("needs PostgreSQL: set DATABASE_URL to a postgres:// URL")
    created = []

    def make(*, icu_locale: str = "") -> str:
        """``icu_locale``: the database's default collation is that ICU locale's (e.g. en-US:
        "ab" sorts before "B"), not the server's."""
        name = f"h12b_{uuid.uuid4().hex[:10]}"
        locale = (
            f" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '{icu_locale}'"
            if icu_locale
            else ""
        )
        with _postgres_admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"{locale}')
        created.append(name)
        return _postgres_url(name)

    yield make
    for name in created:
        with _postgres_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def loaded_database(url: str) -> str:
    """Migrate the database at ``url`` and load the sample into it (in a subprocess)."""
    assert manage("migrate", "-v", "0", database_url=url).returncode == 0
    assert manage("backfill_json", str(SAMPLE_DIR), database_url=url).returncode == 1
    return url
