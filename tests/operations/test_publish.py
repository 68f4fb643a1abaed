"""The scheduled sync after the switch: the database's export published to the export's Git
repository, tested against a real bare repository made on this machine."""

import json
import os
import shutil
import subprocess

import pytest

from catalog.models import ModelStatus
from migrator.models import AuditEntry, PendingWrite
from tests.conftest import ROOT, SAMPLE_DIR, command, manage

pytestmark = pytest.mark.django_db

TOKEN = {"HTTP_AUTHORIZATION": "Bearer test-status-token"}
NEWER = {"status": "degraded", "availability": 99.99, "checkedAt": "2026-11-22T10:00:00.000Z"}


def git(*args, cwd=None) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, env=_git_env()
    )
    return result.stdout


def _git_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return env | {
        "GIT_AUTHOR_NAME": "seed",
        "GIT_AUTHOR_EMAIL": "seed@test",
        "GIT_COMMITTER_NAME": "seed",
        "GIT_COMMITTER_EMAIL": "seed@test",
    }


@pytest.fixture
def remote(tmp_path):
    """A bare repository holding the sample export in data/, as the export's repository would."""
    bare = tmp_path / "export.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    seed = tmp_path / "seed"
    git("clone", "--quiet", str(bare), str(seed))
    shutil.copytree(SAMPLE_DIR, seed / "data", ignore=shutil.ignore_patterns("*.md"))
    git("add", "data", cwd=seed)
    git("commit", "--quiet", "-m", "the export", cwd=seed)
    git("push", "--quiet", "origin", "HEAD:main", cwd=seed)
    return bare


@pytest.fixture
def publishing(remote, settings, tmp_path):
    settings.EXPORT_GIT_URL = str(remote)
    settings.EXPORT_GIT_BRANCH = "main"
    settings.EXPORT_GIT_PATH = "data"
    settings.EXPORT_GIT_CHECKOUT = tmp_path / "checkout"
    settings.EXPORT_GIT_TOKEN = "s3cret-token"
    settings.WRITE_JOURNAL_DIR = tmp_path / "journal"
    return remote


def published_status(remote, slug: str):
    document = json.loads(git("show", "main:data/model-status.json", cwd=remote))
    return document["statuses"][slug]


def put(client, slug, body):
    return client.put(
        f"/api/v1/models/{slug}/status", json.dumps(body), content_type="application/json", **TOKEN
    )


def test_sync_after_the_switch__keeps_a_newer_api_write_and_publishes_it(
    client, publishing, settings
):
    remote = publishing
    command("backfill_json", str(SAMPLE_DIR))
    command("switch_backend", "switch", "database", "--reason", "moved", "--force")
    command("switch_backend", "dual-write", "on", "--reason", "keep the export current")
    settings.JSON_EXPORT_URL = "https://raw.example.test/export/data"  # the JSON store: read-only
    assert put(client, "openai-o3", NEWER).status_code == 200
    assert PendingWrite.objects.filter(store="json").count() == 1  # queued, not dropped
    before = git("rev-parse", "main", cwd=remote).strip()

    # The export still holds the older status: a load keeps the newer write (stale) ...
    code, out, _ = command("backfill_json", str(SAMPLE_DIR), "--format", "json")
    assert json.loads(out)["entities"]["statuses"]["stale"] == 1
    row = ModelStatus.objects.get(model__slug="openai-o3", region="global")
    assert (row.availability, row.status) == (99.99, "degraded")

    # ... and the sync publishes it: the repository's new commit holds it.
    code, out, err = command("publish_export", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["pushed"] is True and report["carriedWrites"] == 1
    after = git("rev-parse", "main", cwd=remote).strip()
    assert after != before and after == report["commit"]
    assert published_status(remote, "openai-o3")["availability"] == 99.99
    assert published_status(remote, "openai-o3")["checkedAt"] == NEWER["checkedAt"]
    assert "Catalog export from the database" in git("log", "-1", "--format=%s", cwd=remote)
    assert not PendingWrite.objects.exists()  # the publish carried the queued write: done
    assert AuditEntry.objects.filter(action="export published").count() == 1
    # What was published is what the database holds.
    checkout = settings.EXPORT_GIT_CHECKOUT / "data"
    assert command("validate_migration", str(checkout))[0] == 0

    # A second sync with no change pushes nothing.
    code, out, err = command("publish_export")
    assert code == 0, err
    assert out.startswith("nothing to publish")
    assert git("rev-parse", "main", cwd=remote).strip() == after
    assert AuditEntry.objects.filter(action="export published").count() == 1


def test_publish__a_writable_json_store_keeps_its_queue(client, publishing, settings, tmp_path):
    """Queued JSON writes leave the queue with a publish only where the JSON store is read from
    what is published; a writable export directory still gets them from the queue."""
    command("backfill_json", str(SAMPLE_DIR))
    command("switch_backend", "switch", "database", "--reason", "moved", "--force")
    command("switch_backend", "dual-write", "on", "--reason", "keep the export current")
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    settings.JSON_EXPORT_DIR = not_a_directory  # writable in principle, failing right now
    assert put(client, "openai-o3", NEWER).status_code == 200
    code, out, err = command("publish_export", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["carriedWrites"] == 0
    assert PendingWrite.objects.filter(store="json").count() == 1


def test_publish__the_token_is_never_written_to_the_clone(publishing, settings):
    command("backfill_json", str(SAMPLE_DIR))
    code, _, err = command("publish_export")
    assert code == 0, err
    config = (settings.EXPORT_GIT_CHECKOUT / ".git" / "config").read_text()
    assert "s3cret-token" not in config and "extraHeader" not in config


def test_publish__follows_commits_made_upstream_meanwhile(publishing, settings, tmp_path):
    remote = publishing
    command("backfill_json", str(SAMPLE_DIR))
    command("publish_export")
    other = tmp_path / "other"
    git("clone", "--quiet", str(remote), str(other))
    (other / "README.md").write_text("someone else's change\n")
    git("add", "README.md", cwd=other)
    git("commit", "--quiet", "-m", "docs", cwd=other)
    git("push", "--quiet", "origin", "HEAD:main", cwd=other)
    ModelStatus.objects.filter(model__slug="openai-o3", region="global").update(availability=42.0)
    code, _, err = command("publish_export")
    assert code == 0, err  # not rejected as a non-fast-forward: the clone caught up first
    assert published_status(remote, "openai-o3")["availability"] == 42.0
    # One record per line: one changed status is a one-line change in Git.
    numstat = git("diff", "--numstat", "main~1", "main", "--", "data/model-status.json", cwd=remote)
    assert numstat.split()[:2] == ["1", "1"]
    assert "someone else's change" in git("show", "main:README.md", cwd=remote)


def test_publish__without_a_repository_a_clear_error(settings):
    settings.EXPORT_GIT_URL = ""
    code, _, err = command("publish_export")
    assert code == 2 and "EXPORT_GIT_URL is not set" in err


def test_publish__an_unreachable_repository_names_git_and_hides_the_token(publishing, settings):
    settings.EXPORT_GIT_URL = "https://user:hunter2@127.0.0.1:9/export.git"
    code, _, err = command("publish_export")
    assert code == 2 and "git clone failed" in err
    assert "hunter2" not in err and "s3cret-token" not in err


def test_bin_sync_export__after_the_switch_publishes_then_pushes_nothing(remote, tmp_path):
    """The cron job itself, in a subprocess on its own database: direction follows the truth."""
    url = f"sqlite:///{tmp_path / 'cron.sqlite3'}"
    env = {
        "EXPORT_GIT_URL": str(remote),
        "EXPORT_GIT_CHECKOUT": str(tmp_path / "cron-checkout"),
        "JSON_EXPORT_DIR": str(SAMPLE_DIR),
    }
    for args in (
        ("migrate", "--noinput", "-v", "0"),
        ("backfill_json", "--format", "json"),
        ("switch_backend", "switch", "database", "--reason", "moved", "--force"),
    ):
        result = manage(*args, database_url=url, env=env)
        assert result.returncode in (0, 1), result.stderr
    sync = [str(ROOT / "bin" / "sync-export")]
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    base |= env | {"DATABASE_URL": url, "DEBUG": "true", "ENV_FILE": "/nonexistent/.env"}
    first = subprocess.run(sync, env=base, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "published: commit" in first.stdout
    head = git("rev-parse", "main", cwd=remote).strip()
    second = subprocess.run(sync, env=base, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "nothing to publish" in second.stdout
    assert git("rev-parse", "main", cwd=remote).strip() == head
