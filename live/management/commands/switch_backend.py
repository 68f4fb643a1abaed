"""python manage.py switch_backend <status|switch|rollback|canary|dual-write|shadow|
auto-rollback|maintenance|replay>."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from live import switch, writes
from live.reports import status_text
from migrator.errors import MigratorError, database_error_message
from migrator.models import Backend
from migrator.runs import operator_name


def _actor(options) -> str:
    return operator_name(options.get("actor"))


class Command(BaseCommand):
    help = (
        "Show or change which store serves reads (every worker follows within about a second), "
        "the canary, dual-write and shadow reads. Every change is audited."
    )

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")

        def change(name, help_text, *, reason_required=True):
            sub = commands.add_parser(name, help=help_text)
            sub.add_argument(
                "--reason", required=reason_required, default="", help="why (kept in the audit log)"
            )
            sub.add_argument("--actor", help="who (default: the OS user)")
            return sub

        status = commands.add_parser("status", help="the state, queues, validation, audit")
        status.add_argument("--format", choices=("text", "json"), default="text")
        status.add_argument(
            "--check",
            action="store_true",
            help="exit 1 (with the reasons) when a switch to the database would be refused",
        )

        to = change("switch", "move all reads to one store")
        to.add_argument("store", choices=Backend.values)
        to.add_argument(
            "--force",
            action="store_true",
            help="switch to the database even if validation or the queues say no",
        )
        to.add_argument(
            "--auto-rollback",
            action="store_true",
            help="roll back by itself if errors, latency or mismatches cross the thresholds",
        )

        change(
            "rollback",
            "every read back to JSON at once, canary off (does nothing if already there)",
            reason_required=False,
        )

        canary = change("canary", "route part of the reads to the database")
        canary.add_argument("action", choices=("enable", "disable"))
        canary.add_argument("--header", help="header name (e.g. X-Canary)")
        canary.add_argument("--value", help="header value that opts in (e.g. canary=true)")
        canary.add_argument("--percent", type=float, help="share of other clients, 0-100")
        canary.add_argument("--auto-rollback", action="store_true")

        dual = change("dual-write", "write to both stores")
        dual.add_argument("action", choices=("on", "off"))

        shadow = change("shadow", "compare a sample of reads with the other store")
        shadow.add_argument("action", choices=("on", "off"))
        shadow.add_argument("--sample", type=float, help="percent of reads (default 5)")
        shadow.add_argument("--auto-rollback", action="store_true")

        guard = change("auto-rollback", "the guard: on/off and its thresholds")
        guard.add_argument("action", nargs="?", choices=("on", "off"))
        guard.add_argument("--error-rate", type=float, help="percent of failed database reads")
        guard.add_argument("--p95-ms", type=float, help="p95 response time, milliseconds")
        guard.add_argument(
            "--min-requests", type=int, help="database reads in the window before judging"
        )
        guard.add_argument("--window", type=int, help="seconds of traffic judged")

        maintenance = change("maintenance", "every write answers 503 (reads go on)")
        maintenance.add_argument("action", choices=("on", "off"))

        replay = commands.add_parser("replay", help="apply queued secondary writes now")
        replay.add_argument("--store", choices=Backend.values)

    def handle(self, *args, subcommand, **options):
        try:
            getattr(self, f"_{subcommand.replace('-', '_')}")(options)
        except switch.SwitchRefused as exc:
            raise CommandError(
                "refused to move reads to the database:\n  - "
                + "\n  - ".join(exc.problems)
                + "\n(--force overrides; the audit log will say so)",
                returncode=1,
            ) from exc
        except (MigratorError, ValueError) as exc:
            raise CommandError(str(exc), returncode=2) from exc
        except DatabaseError as exc:
            raise CommandError(database_error_message(exc), returncode=2) from exc

    def _done(self, state, what):
        self.stdout.write(self.style.SUCCESS(what))
        self.stdout.write(
            f"reads: {state.active}; canary: {'on' if state.canary_enabled else 'off'}; "
            f"dual-write: {'on' if state.dual_write else 'off'}; "
            f"shadow: {'on' if state.shadow_enabled else 'off'}; "
            f"maintenance: {'on' if state.maintenance else 'off'}; state version {state.version} "
            "(every worker follows within about a second)"
        )

    def _status(self, options):
        document = switch.status()
        if options["format"] == "json":
            self.stdout.write(json.dumps(document, indent=2, default=str))
        else:
            self.stdout.write(status_text(document))
        if options["check"] and document["readyForDatabase"]:
            raise CommandError(
                "a switch to the database would be refused:\n  - "
                + "\n  - ".join(document["readyForDatabase"]),
                returncode=1,
            )

    def _switch(self, options):
        state = switch.switch(
            to=options["store"],
            reason=options["reason"],
            actor=_actor(options),
            force=options["force"],
            auto_rollback=True if options["auto_rollback"] else None,
        )
        self._done(state, f"reads now come from {state.active}")

    def _rollback(self, options):
        reason = options["reason"] or "rollback (no reason given)"
        state = switch.rollback(reason=reason, actor=_actor(options))
        if state is None:
            self.stdout.write(
                self.style.SUCCESS("nothing to roll back: reads already come from json, no canary")
            )
        else:
            self._done(state, "rolled back: reads now come from json")
        self._warn_override()

    def _warn_override(self):
        from django.conf import settings

        if settings.DATA_BACKEND_OVERRIDE:
            self.stderr.write(
                self.style.WARNING(
                    f"DATA_BACKEND_OVERRIDE={settings.DATA_BACKEND_OVERRIDE} is set: every "
                    "worker reads from that store until it is unset, whatever the state says"
                )
            )

    def _canary(self, options):
        enabled = options["action"] == "enable"
        state = switch.canary(
            enabled=enabled,
            reason=options["reason"],
            actor=_actor(options),
            header=options["header"],
            value=options["value"],
            percent=options["percent"],
            auto_rollback=True if options["auto_rollback"] else None,
        )
        what = (
            f"canary on: {state.canary_header}: {state.canary_value} and "
            f"{state.canary_percent:g}% of clients read from the database"
            if enabled
            else "canary off"
        )
        self._done(state, what)
        if enabled:
            for warning in switch.canary_warnings():
                self.stderr.write(self.style.WARNING(f"warning: {warning}"))

    def _dual_write(self, options):
        state = switch.dual_write(
            enabled=options["action"] == "on", reason=options["reason"], actor=_actor(options)
        )
        self._done(state, f"dual-write {options['action']}")

    def _shadow(self, options):
        enabled = options["action"] == "on"
        sample = options["sample"] if options["sample"] is not None else (5.0 if enabled else None)
        state = switch.shadow(
            enabled=enabled,
            reason=options["reason"],
            actor=_actor(options),
            sample=sample,
            auto_rollback=True if options["auto_rollback"] else None,
        )
        what = (
            f"shadow reads on: {state.shadow_sample:g}% of reads compared"
            if enabled
            else "shadow reads off"
        )
        self._done(state, what)

    def _auto_rollback(self, options):
        action = options["action"]
        state = switch.auto_rollback(
            reason=options["reason"],
            actor=_actor(options),
            enabled=None if action is None else action == "on",
            error_rate=options["error_rate"],
            p95_ms=options["p95_ms"],
            min_requests=options["min_requests"],
            window=options["window"],
        )
        t = state.thresholds
        self._done(
            state,
            f"auto-rollback {'on' if state.auto_rollback else 'off'}: error rate > "
            f"{t['error_rate'] * 100:g}%, p95 > {t['p95_seconds'] * 1000:g} ms, at least "
            f"{t['min_requests']} database reads, over {t['window_seconds']:g} s",
        )

    def _maintenance(self, options):
        state = switch.maintenance(
            enabled=options["action"] == "on", reason=options["reason"], actor=_actor(options)
        )
        self._done(
            state,
            "maintenance on: every write answers 503, reads go on"
            if state.maintenance
            else "maintenance off: writes are accepted again",
        )

    def _replay(self, options):
        results = writes.drain(options["store"])
        writes.stats.save()
        failed = False
        dead = writes.dead_letter_counts()
        for name, (applied, left, error) in results.items():
            line = f"{name}: {applied} applied, {left} left"
            if dead.get(name):
                line += f", {dead[name]} dead letter(s) unresolved (see the admin)"
            if error:
                line += f" (last error: {error})"
                failed = True
            self.stdout.write(line)
        if failed:
            raise CommandError("some queued writes could not be applied yet", returncode=1)
