"""python manage.py backfill_json [SOURCE ...]: stream a JSON export into the database."""

import argparse
import json
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from migrator import source
from migrator.backfill import DEFAULT_BATCH_SIZE, ENTITIES, Backfill, Options
from migrator.errors import MigratorError, SourceError, TooManyRejects, database_error_message
from migrator.prune import DEFAULT_MAX_PERCENT
from migrator.reports import backfill_document, backfill_text, undo_text
from migrator.runs import backfill_runs_mark_interrupted
from migrator.undo import backfill_run_undo


class ProgressBars:
    """One tqdm bar per file, by bytes read; only on a terminal."""

    def __init__(self):
        from tqdm import tqdm

        self._tqdm = tqdm
        self.bars = {}

    def __call__(self, export_file, done):
        bar = self.bars.get(export_file.name)
        if bar is None:
            total = None
            if not export_file.is_url:
                total = source.file_size(export_file.location)
            bar = self.bars[export_file.name] = self._tqdm(
                total=total,
                desc=f"{export_file.name:<18}",
                unit="B",
                unit_scale=True,
                file=sys.stderr,
                leave=True,
            )
        bar.update(done - bar.n)

    def close(self):
        for bar in self.bars.values():
            bar.close()


def entity_list(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in ENTITIES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown entity {', '.join(unknown) or value!r}: use {', '.join(ENTITIES)}"
        )
    return names


def non_negative(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number, 0 or more")
    return number


def what_was_kept(backfill: Backfill) -> str:
    """What a run that stopped leaves in the database: said from what it did, not assumed."""
    options = backfill.options
    if options.dry_run:
        return "Nothing was written (dry run)."
    if options.atomic:
        return "Nothing was written (--atomic: the whole run was rolled back)."
    committed = sum(backfill.committed.values())
    if not committed:
        return "Nothing was written."
    return f"The {committed} batch(es) committed before it are kept."


class Command(BaseCommand):
    help = (
        "Stream a JSON export (directory, files or http(s) base URL; default JSON_EXPORT_URL, "
        "else JSON_EXPORT_DIR) into the database: batched idempotent upserts, rejected records "
        "kept for a retry. Exit status 0: all loaded; 1: records were rejected; 2: fatal error."
    )

    def add_arguments(self, parser):
        parser.add_argument("sources", nargs="*", metavar="SOURCE")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"records per transaction (default {DEFAULT_BATCH_SIZE})",
        )
        parser.add_argument(
            "--atomic", action="store_true", help="the whole run in one transaction"
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="delete (after archiving) rows the export no longer holds",
        )
        parser.add_argument(
            "--max-prune-percent",
            type=float,
            default=DEFAULT_MAX_PERCENT,
            metavar="P",
            help=(
                "refuse a prune that would delete more than P%% of an entity's rows, or any row "
                f"of an entity the export holds none of (default {DEFAULT_MAX_PERCENT:g})"
            ),
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help=(
                "prune even what the --max-prune-percent guard refuses; once reads come from "
                "the database, also replace statuses with older ones (normally skipped as stale)"
            ),
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would change; write nothing"
        )
        parser.add_argument(
            "--only",
            type=entity_list,
            action="append",
            metavar="ENTITY",
            help="load only providers, models and/or statuses (repeat or comma-separate)",
        )
        parser.add_argument(
            "--max-rejects",
            type=non_negative,
            metavar="N",
            help="stop once more than N records are rejected",
        )
        parser.add_argument(
            "--undo",
            type=int,
            metavar="RUN",
            help="undo backfill run RUN: delete the rows it inserted, put back the rows it "
            "updated or pruned (recorded as a run of its own; --force: even over later runs)",
        )
        parser.add_argument(
            "--retry-failed",
            action="store_true",
            help="replay the reject queue (records rejected before) instead of reading an export",
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="read and compare the whole export even when the database already holds it "
            "(the state the previous run recorded is unchanged): normally such a run is "
            "recognised and skipped",
        )
        parser.add_argument("--format", choices=("text", "json"), default="text")
        parser.add_argument("--actor", default="", help="who runs this (default: the OS user)")

    def handle(self, *args, **options):
        if options["undo"] is not None:
            return self._undo(options)
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1", returncode=2)
        only = {name for names in options["only"] or [ENTITIES] for name in names}
        backfill_options = Options(
            sources=tuple(options["sources"] or source.default_sources(settings)),
            batch_size=options["batch_size"],
            atomic=options["atomic"],
            prune=options["prune"],
            max_prune_percent=options["max_prune_percent"],
            force=options["force"],
            dry_run=options["dry_run"],
            only=frozenset(only),
            max_rejects=options["max_rejects"],
            retry_failed=options["retry_failed"],
            actor=options["actor"],
            full=options["full"],
        )
        try:
            interrupted = backfill_runs_mark_interrupted()
        except DatabaseError as exc:
            raise CommandError(database_error_message(exc), returncode=2) from exc
        for run_id in interrupted:
            self.stderr.write(
                f"backfill run #{run_id} was interrupted (its process is gone); marked so",
                self.style.NOTICE,
            )
        bars = None
        if options["verbosity"] > 0 and options["format"] == "text" and self.stdout.isatty():
            bars = ProgressBars()
        backfill = Backfill(backfill_options, progress=bars)
        try:
            try:
                result = backfill.run()
            finally:
                if bars is not None:
                    bars.close()
        except MigratorError as exc:
            if backfill.run_record is not None:
                self._report(backfill.result(), options)
            raise CommandError(self._stopped_message(exc, backfill), returncode=2) from exc
        except DatabaseError as exc:
            raise CommandError(database_error_message(exc), returncode=2) from exc
        self._report(result, options)
        if result.rejected and backfill_options.dry_run:
            raise CommandError(
                f"{result.rejected} record(s) would be rejected; a dry run keeps nothing (run "
                "without --dry-run to keep them in the reject queue).",
                returncode=1,
            )
        if result.rejected:
            raise CommandError(
                f"{result.rejected} record(s) rejected and kept in the reject queue (admin: "
                "Rejected records); fix the cause, then run `backfill_json --retry-failed`.",
                returncode=1,
            )

    def _undo(self, options):
        if options["sources"] or options["retry_failed"] or options["dry_run"]:
            raise CommandError(
                "--undo RUN takes no SOURCE, --retry-failed or --dry-run", returncode=2
            )
        try:
            result = backfill_run_undo(
                run_id=options["undo"], actor=options["actor"], force=options["force"]
            )
        except MigratorError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        except DatabaseError as exc:
            raise CommandError(database_error_message(exc), returncode=2) from exc
        if options["format"] == "json":
            self.stdout.write(json.dumps(result.as_dict(), indent=2))
        elif options["verbosity"] > 0:
            self.stdout.write(self.style.SUCCESS(undo_text(result)))

    @staticmethod
    def _stopped_message(exc: MigratorError, backfill: Backfill) -> str:
        sentences = [str(exc).rstrip(".") + "."]
        if isinstance(exc, SourceError):
            sentences.append("Fix the source and run the command again: it completes the load.")
        sentences.append(what_was_kept(backfill))
        if isinstance(exc, TooManyRejects) and backfill.rejects_kept():
            sentences.append("The rejects are in the admin (Rejected records).")
        elif isinstance(exc, TooManyRejects) and not backfill.options.dry_run:
            sentences.append("The rejects were rolled back with the records of their batches.")
        return " ".join(sentences)

    def _report(self, result, options):
        if options["format"] == "json":
            self.stdout.write(json.dumps(backfill_document(result), indent=2))
        elif options["verbosity"] > 0:
            text = backfill_text(result, verbosity=options["verbosity"])
            style = self.style.SUCCESS if result.run.outcome == "succeeded" else self.style.WARNING
            first, _, rest = text.partition("\n")
            self.stdout.write(style(first))
            self.stdout.write(rest)
