"""The scheduled sync after the switch: the database written out as the export and published to
the export's Git repository, so that the JSON side (the rollback target, what static consumers
read) stays current.

A working clone is kept in EXPORT_GIT_CHECKOUT and brought to the remote branch's head before
each export; export_json writes the three files into EXPORT_GIT_PATH within it; when they differ
from the branch's, one commit is made and pushed. Nothing is committed or pushed when nothing
changed. The token (EXPORT_GIT_TOKEN) goes to Git as an HTTP header through the environment,
never into the clone's configuration or a URL on disk, and never into a message.

Writes queued for the JSON store (dual-write's secondary copies) are in the database already
(it was their primary). Where the JSON store is read-only because it is read from the published
repository (JSON_EXPORT_URL, or on Vercel), they can only reach it through a publish: a published
export carries them, so they leave the queue then. A writable JSON store directory gets them
from the queue as before (a publish leaves them alone).
"""

from __future__ import annotations

import base64
import dataclasses
import os
import shutil
import subprocess
import time
from pathlib import Path

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from config.database import mask_url
from migrator.errors import MigratorError
from migrator.export import export_json
from migrator.models import AuditEntry, Backend, PendingWrite
from migrator.runs import operator_name

GIT_TIMEOUT = 300  # seconds for one git command (a clone of a large export included)


class PublishError(MigratorError):
    """The export could not be published (no repository configured, git failed)."""


@dataclasses.dataclass
class Published:
    repository: str
    branch: str
    path: str
    changed: bool
    commit: str
    pushed: bool
    carried_writes: int
    seconds: float
    files: list[dict]

    def as_dict(self) -> dict:
        return {
            "repository": self.repository,
            "branch": self.branch,
            "path": self.path,
            "changed": self.changed,
            "commit": self.commit,
            "pushed": self.pushed,
            "carriedWrites": self.carried_writes,
            "seconds": round(self.seconds, 3),
            "files": self.files,
        }


def _git_environment() -> dict:
    """Git's environment: no prompt, and the token (when set) as an extra HTTP header given
    through GIT_CONFIG_* variables, so it is never written to the clone's config."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    name, _, email = settings.EXPORT_GIT_AUTHOR.partition("<")
    for role in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{role}_NAME"] = name.strip() or "catalog sync"
        env[f"GIT_{role}_EMAIL"] = email.rstrip(">").strip() or "catalog-sync@invalid"
    if settings.EXPORT_GIT_TOKEN:
        pair = f"{settings.EXPORT_GIT_USER}:{settings.EXPORT_GIT_TOKEN}".encode()
        env["GIT_CONFIG_COUNT"] = "1"
        env["GIT_CONFIG_KEY_0"] = "http.extraHeader"
        env["GIT_CONFIG_VALUE_0"] = f"Authorization: Basic {base64.b64encode(pair).decode()}"
    return env


def _git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=_git_environment(),
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
        )
    except FileNotFoundError as exc:
        raise PublishError(
            "git is not installed here: publish from a host that has it (Render's cron job, a "
            "shell)"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise PublishError(f"git {args[0]} took more than {GIT_TIMEOUT} s") from exc
    if check and result.returncode != 0:
        error = _masked((result.stderr or result.stdout).strip().splitlines() or ["no output"])
        raise PublishError(f"git {args[0]} failed (exit {result.returncode}): {error}")
    return result


def _masked(lines: list[str]) -> str:
    text = " ".join(line.strip() for line in lines[-3:])
    if settings.EXPORT_GIT_TOKEN:
        text = text.replace(settings.EXPORT_GIT_TOKEN, "***")
    return mask_url(text)


def _checkout(url: str, branch: str) -> Path:
    """The working clone at the remote branch's head (cloned on first use)."""
    checkout = Path(settings.EXPORT_GIT_CHECKOUT)
    if (checkout / ".git").is_dir():
        remote = _git("remote", "get-url", "origin", cwd=checkout).stdout.strip()
        if remote != url:  # EXPORT_GIT_URL changed: start over
            shutil.rmtree(checkout)
    if not (checkout / ".git").is_dir():
        checkout.parent.mkdir(parents=True, exist_ok=True)
        if checkout.exists():
            shutil.rmtree(checkout)
        _git("clone", "--quiet", "--branch", branch, "--single-branch", url, str(checkout))
        return checkout
    _git("fetch", "--quiet", "origin", branch, cwd=checkout)
    _git("checkout", "--quiet", "-B", branch, f"origin/{branch}", cwd=checkout)
    _git("reset", "--quiet", "--hard", f"origin/{branch}", cwd=checkout)
    _git("clean", "--quiet", "-fdx", cwd=checkout)
    return checkout


def json_store_is_the_published_export() -> bool:
    """Whether the JSON store is read from what is published (a URL, or Vercel's deployment)
    rather than from a writable directory of its own."""
    return bool(settings.JSON_EXPORT_URL) or settings.ON_VERCEL


def publish_export(*, actor: str = "") -> Published:
    """Write the database out into the export's repository and push it when it changed."""
    url, branch = settings.EXPORT_GIT_URL, settings.EXPORT_GIT_BRANCH
    if not url:
        raise PublishError(
            "EXPORT_GIT_URL is not set: set it to the export repository's URL (and "
            "EXPORT_GIT_TOKEN for https) so the sync can publish the export"
        )
    started = time.perf_counter()
    checkout = _checkout(url, branch)
    relative = settings.EXPORT_GIT_PATH.strip("/") or "."
    target = (checkout / relative).resolve()
    if checkout.resolve() not in (target, *target.parents):
        raise PublishError(f"EXPORT_GIT_PATH={relative!r} leaves the repository")
    target.mkdir(parents=True, exist_ok=True)
    # Writes queued for the JSON store up to now are in the database: this export carries them.
    carried_up_to = None
    if json_store_is_the_published_export():
        queued = PendingWrite.objects.filter(store=Backend.JSON)
        carried_up_to = queued.aggregate(last=Max("id"))["last"]
    result = export_json(target)
    _git("add", "--all", "--", relative, cwd=checkout)
    changed = _git("diff", "--cached", "--quiet", cwd=checkout, check=False).returncode != 0
    commit, pushed = "", False
    if changed:
        figures = ", ".join(f"{f.name} {f.records}" for f in result.files)
        message = f"Catalog export from the database ({timezone.now():%Y-%m-%d %H:%M} UTC)"
        _git("commit", "--quiet", "-m", message, "-m", f"Records: {figures}.", cwd=checkout)
        _git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=checkout)
        pushed = True
    commit = _git("rev-parse", "HEAD", cwd=checkout).stdout.strip()
    carried = 0
    if carried_up_to is not None:
        carried, _ = PendingWrite.objects.filter(store=Backend.JSON, id__lte=carried_up_to).delete()
    published = Published(
        repository=mask_url(url),
        branch=branch,
        path=relative,
        changed=changed,
        commit=commit,
        pushed=pushed,
        carried_writes=carried,
        seconds=time.perf_counter() - started,
        files=[f.as_dict() | {"path": f"{relative}/{f.name}"} for f in result.files],
    )
    if pushed or carried:
        AuditEntry.objects.create(
            actor=operator_name(actor),
            action="export published",
            reason="scheduled sync: the database is the source of truth",
            after={
                "commit": commit,
                "branch": branch,
                "pushed": pushed,
                "carriedWrites": carried,
            },
        )
    return published
