"""The state token: what lets backfill_json recognise an export the database already holds.

At the end of every full, committed run (all entities, no --dry-run, --only, --retry-failed or
--undo; no failed batch) the run records a token: the export's files (location, size, SHA-256),
the pipeline version (a digest of the code that decides the mapping), the options that change
the outcome, digests of the model aliases, the reject queue and the latest envelopes, and a
content digest of the stored catalog computed by the database over every row (natural keys and
every compared column; no ids, no timestamps a no-op would not move).

The next run compares, cheapest first, each part with what holds now; when every part is equal
(the catalog's digest last, recomputed over every row) nothing a full pass could change has
changed, and the run is recorded as a run of its own that changed nothing. Otherwise the full
pass happens, and repairs whatever drifted.

The content digest is a sum, modulo 2**64, of a 64-bit hash of each row: independent of
row order, computed in one streaming aggregate (memory flat), and additive, so that the digests
each batch takes of the rows it left, inside its own transaction, add up to the digest of those
rows at the end unless another writer changed one of them in between (then no token is
recorded: see ``Tracker``). PostgreSQL hashes each row with ``hash_record_extended`` (each value
by its type's own 64-bit hash, the ones hash partitioning relies on, so stable across releases;
only JSON is written out as text, jsonb's own hash being weak: 2x cheaper than hashing
``ROW(...)::text``; numbers hash by value, as the loader compares them), then hashes that
once more with ``hashint8extended``: the record hash combines its columns linearly, so without
the second hash two rows swapping a value would leave the sum as it was. Its seed is 1, not 0: a
NULL hashes as 0 and a float 0.0 as the seed, so the two differ. SQLite has no hash function, so
an aggregate is registered on its connection: the first 8 bytes of the MD5 of the row's values
by Python's exact ``repr``. The two databases' digests differ for the same rows; a token is only
ever compared with one taken on the same database.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path

from django.db import connection

from catalog.fields import JSON_COLUMNS, MODEL_FIELDS, PROVIDER_FIELDS, STATUS_FIELDS
from migrator import envelope, source, tables
from migrator.models import BackfillRun

TOKEN_VERSION = 2
MODULUS = 2**64
ROOT = Path(__file__).resolve().parent.parent


# --- the pipeline version ------------------------------------------------------------------------

# Everything whose change could change what a run stores: the field table and the catalog's
# schema (catalog/fields.py, models.py, serializers.py, its migrations), and the whole move
# package (reader, pipeline, mapping, identity, envelope, tables, batches, backfill, prune,
# rejects, this module; its migrations). The bytes, not a hand-kept constant: an edit nobody
# thought relevant still leads to one full run after the deploy, never to a wrong skip. The
# parser's and Python's versions too (how numbers are read and floats written).
PIPELINE_PATHS = (
    "catalog/fields.py",
    "catalog/models.py",
    "catalog/serializers.py",
    "catalog/migrations",
    "migrator",
)


def pipeline_version() -> str:
    import django
    import ijson

    digest = hashlib.sha256()
    for name in PIPELINE_PATHS:
        path = ROOT / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(ROOT)).encode() + b"\0")
            digest.update(file.read_bytes() + b"\0")
    versions = f"python {sys.version_info[:2]} django {django.__version__} ijson "
    versions += getattr(ijson, "__version__", "?") + f" backend {ijson.backend}"
    digest.update(versions.encode())
    return digest.hexdigest()


# --- digests computed by the database ------------------------------------------------------------


class _SqliteDigest:
    """SQLite's aggregate ``migrator_digest(v1, v2, ...)``: the sum modulo 2**64 of the first 8
    bytes of each row's MD5 (the row's values by Python's ``repr``, exact for floats), as hex."""

    def __init__(self):
        self.total = 0

    def step(self, *values):
        row = repr(values).encode("utf-8", "surrogatepass")
        self.total += int.from_bytes(hashlib.md5(row, usedforsecurity=False).digest()[:8], "big")

    def finalize(self):
        return format(self.total % MODULUS, "016x")


def _register_sqlite() -> None:
    connection.ensure_connection()
    connection.connection.create_aggregate("migrator_digest", -1, _SqliteDigest)


def _aggregate(expressions: list[str], where: str = "") -> str:
    """SQL for the digest aggregate over ``expressions`` (the row's values, in order)."""
    filtered = f" FILTER (WHERE {where})" if where else ""
    if connection.vendor == "postgresql":
        row = f"hash_record_extended(ROW({', '.join(expressions)}), 1)"
        return f"sum(hashint8extended({row}, 0)){filtered}"
    return f"migrator_digest({', '.join(expressions)}){filtered}"


def _read(column: str, *, json: bool = False) -> str:
    """A column of ``t`` as the digest reads it. On PostgreSQL a JSON column is read as its
    canonical text: jsonb's own hash is weak (``{}`` and ``[]`` hash alike, so do two values
    32 places apart swapped, and pairs of empty containers cancel out)."""
    expression = f"t.{q(column)}"
    return f"{expression}::text" if json and connection.vendor == "postgresql" else expression


def _hex(value) -> str:
    """The aggregate's value as 16 hex digits (PostgreSQL sums signed bigints: a numeric)."""
    if value is None:
        return format(0, "016x")
    if isinstance(value, str):
        return value
    return format(int(value) % MODULUS, "016x")


def _add(*digests: str) -> str:
    return format(sum(int(d, 16) for d in digests) % MODULUS, "016x")


q = tables.q


@dataclasses.dataclass(frozen=True)
class Spec:
    """One catalog table as the digest reads it: its rows' natural key and compared columns."""

    table: tables.Table
    parent_slug: str = ""  # models: the provider's slug; statuses: the model's slug

    def source(self, *, lookup: bool = False) -> tuple[list[str], str]:
        """(the row's expressions, the join giving its parent's natural key). ``lookup``: the
        parent's key read by a subquery per row instead (a batch of a few thousand rows: one
        index probe each, whatever plan the batch's settings leave the planner)."""
        table = self.table
        expressions = [_read(c, json=c in JSON_COLUMNS) for c in table.columns]
        join = ""
        if table.parent is not None:
            parent = q(table.parent._meta.db_table)
            fk = f"t.{q(table.parent_column)}"
            if lookup:
                expressions.insert(
                    0, f"(SELECT par.{q('slug')} FROM {parent} AS par WHERE par.id = {fk})"
                )
            else:
                join = f" JOIN {parent} AS par ON par.id = {fk}"
                expressions.insert(0, f"par.{q('slug')}")
        return expressions, join


SPECS = {entity: Spec(table) for entity, table in tables.TABLES.items()}
# Every compared column is in the table's column list; the assertion keeps it so when a field
# is added (the digest would otherwise not see it).
assert {f.column for f in (*PROVIDER_FIELDS, *MODEL_FIELDS, *STATUS_FIELDS)} <= {
    c for t in tables.TABLES.values() for c in t.columns
}


def _fetch(sql: str, params=()) -> tuple:
    if connection.vendor == "sqlite":
        _register_sqlite()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def catalog_digest(*, seen: bool = False, entities=None) -> dict[str, dict]:
    """Per entity (``entities``: those only): ``rows`` and ``digest`` over every stored row;
    with ``seen``, also ``seen_rows`` and ``seen_digest`` over the rows this run's batches
    matched (its seen tables), in the same statement (one snapshot of the table)."""
    result = {}
    for entity, spec in SPECS.items():
        if entities is not None and entity not in entities:
            continue
        started = time.perf_counter()
        expressions, join = spec.source()
        table = spec.table
        if seen:
            # The rows the run did not match (absent from the export: usually none) are hashed
            # a second time, not the others: seen = all - unseen.
            sql = (
                f"SELECT count(*), {_aggregate(expressions)}, count(*) - count(n.id), "
                f"{_aggregate(expressions, 'n.id IS NULL')} FROM {q(table.name)} AS t{join} "
                f"LEFT JOIN {table.seen} AS n ON n.id = t.id"
            )
            rows, digest, unseen_rows, unseen_digest = _fetch(sql)
            result[entity] = {
                "rows": rows,
                "digest": _hex(digest),
                "seen_rows": rows - unseen_rows,
                "seen_digest": format(
                    (int(_hex(digest), 16) - int(_hex(unseen_digest), 16)) % MODULUS, "016x"
                ),
            }
        else:
            rows, digest = _fetch(
                f"SELECT count(*), {_aggregate(expressions)} FROM {q(table.name)} AS t{join}"
            )
            result[entity] = {"rows": rows, "digest": _hex(digest)}
        result[entity]["seconds"] = round(time.perf_counter() - started, 3)
    return result


def batch_digest(table: tables.Table) -> tuple[int, str]:
    """(rows, digest) of the stored rows the staged batch names, as they are now (inside the
    batch's transaction, after its writes): the rows ``tables.mark_seen`` marks."""
    expressions, join = SPECS[table.entity].source(lookup=True)
    rows, digest = _fetch(
        f"SELECT count(*), {_aggregate(expressions)} FROM {table.stage} AS s "
        f"JOIN {q(table.name)} AS t ON {tables._match(table)}{join}"
    )
    return rows, _hex(digest)


def _table_digest(name: str, columns: tuple[str, ...], json=()) -> str:
    expressions = [_read(c, json=c in json) for c in columns]
    (digest,) = _fetch(f"SELECT {_aggregate(expressions)} FROM {q(name)} AS t")
    return _hex(digest)


def aliases_digest() -> str:
    """The model aliases (alias → model slug): the pipeline resolves status keys by them."""
    return _table_digest("migrator_modelalias", ("alias", "model_slug"))


REJECT_COLUMNS = (
    "entity",
    "record_key",
    "file",
    "location",
    "position",
    "field",
    "reason",
    "raw",
    "context",
)


def rejects_digest() -> str:
    """The reject queue, each record as a run would write it (not its attempt count, last run
    or times, which a full run moves and a skipped one leaves): a record deleted or resolved in
    the admin makes the next run a full one, which queues it again if it is still rejected."""
    return _table_digest("migrator_rejectedrecord", REJECT_COLUMNS, json={"raw", "context"})


def envelopes_digest() -> str:
    """The latest envelope of each kind (what export_json writes back), as latest_envelope
    picks it: a full run makes its files' envelopes the latest again."""
    digest = hashlib.sha256()
    for kind in ("models", "statuses"):
        record = envelope.latest_envelope_record(kind)
        if record is not None:
            text = json.dumps(
                [kind, record.sha256, record.envelope, record.merged], sort_keys=True, default=str
            )
            digest.update(text.encode() + b"\0")
    return digest.hexdigest()


# --- the token -----------------------------------------------------------------------------------


def outcome_options(options, *, keep_newer: bool) -> dict:
    """The options that change what a run stores or reports. Not ``--batch-size`` or
    ``--atomic``: a run that ends without a failed batch stores the same rows either way."""
    return {
        "prune": options.prune,
        "max_prune_percent": options.max_prune_percent if options.prune else None,
        "force": options.force,
        # Once reads come from the database, statuses older than the stored row are skipped.
        "keep_newer": keep_newer,
    }


def steady_counts(counts: dict) -> dict:
    """What a full pass would count right after the run that counted ``counts``: every row it
    loaded (inserted, updated or unchanged) is unchanged; rejects, merges, absent rows, stale
    statuses and warnings as before; nothing inserted, updated or pruned."""
    steady = {}
    for entity, c in counts.items():
        steady[entity] = {
            "read": c.get("read", 0),
            "inserted": 0,
            "updated": 0,
            "unchanged": c.get("inserted", 0) + c.get("updated", 0) + c.get("unchanged", 0),
            "rejected": c.get("rejected", 0),
            "merged": c.get("merged", 0),
            "pruned": 0,
            "absent": c.get("absent", 0),
            "warnings": c.get("warnings", 0),
            "stale": c.get("stale", 0),
        }
    return steady


@dataclasses.dataclass
class Decision:
    """Whether this run is recognised as already loaded, and why (not)."""

    skip: bool
    reason: str
    previous: BackfillRun | None = None
    token: dict | None = None
    seconds: dict = dataclasses.field(default_factory=dict)  # per entity: hashing + digest

    def as_dict(self) -> dict:
        return {
            "skipped": self.skip,
            "reason": self.reason,
            "previousRun": self.previous.pk if self.previous is not None else None,
            "loadedBy": (self.token or {}).get("loaded_by") if self.skip else None,
        }


def previous_run(current: BackfillRun) -> BackfillRun | None:
    """The latest run before ``current`` that could have written (dry runs write nothing)."""
    return BackfillRun.objects.filter(dry_run=False, pk__lt=current.pk).order_by("-pk").first()


def decide(
    current: BackfillRun,
    options,
    files: dict[str, source.ExportFile],
    *,
    keep_newer: bool,
) -> Decision:
    """Compare the latest run's token with what holds now, cheapest part first. The files'
    sizes and SHA-256 are filled in on ``files`` as they are hashed."""
    seconds = {entity: 0.0 for entity in SPECS}
    previous = previous_run(current)
    if previous is not None and previous.undoes_id is not None:
        return Decision(
            False, f"the latest run #{previous.pk} undid run #{previous.undoes_id}", previous
        )
    if previous is None or not previous.state_token:
        what = "no earlier run" if previous is None else f"run #{previous.pk}"
        return Decision(False, f"{what} recorded a state token", previous)
    token = previous.state_token

    def no(reason: str) -> Decision:
        return Decision(False, reason, previous, token, seconds)

    if BackfillRun.objects.filter(undoes=previous).exists():
        return no(f"run #{previous.pk} was undone")
    if token.get("version") != TOKEN_VERSION:
        return no("the token was written by another version of the token")
    if token.get("options") != outcome_options(options, keep_newer=keep_newer):
        return no(
            "options that change the outcome differ (--prune, --max-prune-percent, "
            "--force, or which store is the source of truth)"
        )
    limit = options.max_rejects
    rejected = sum(c.get("rejected", 0) for c in (previous.counts or {}).values())
    if limit is not None and rejected > limit:
        return no(f"its {rejected} rejected record(s) exceed --max-rejects {limit}")
    if token.get("pipeline") != pipeline_version():
        return no("the pipeline's code changed since")
    recorded = {f["file"]: f for f in token.get("files", [])}
    ordered = [files[kind] for kind in source.KINDS if kind in files]
    if sorted(recorded) != sorted(f.name for f in ordered):
        return no("the export has other files")
    for export_file in ordered:
        was = recorded[export_file.name]
        if was["location"] != export_file.shown:
            return no(f"{export_file.name} is read from another location")
        if not export_file.is_url:
            size = source.file_size(export_file.location)
            if size != was["size"]:
                return no(f"{export_file.name} changed (size {was['size']} → {size})")
        started = time.perf_counter()
        sums = source.export_checksums({export_file.kind: export_file})
        export_file.sha256 = sums[export_file.name]
        if not export_file.is_url:
            export_file.size = source.file_size(export_file.location)
        seconds[export_file.kind] += time.perf_counter() - started
        if export_file.sha256 != was["sha256"]:
            return no(f"{export_file.name} changed (sha256 {export_file.sha256[:12]})")
    if token.get("aliases") != aliases_digest():
        return no("model aliases changed")
    if token.get("rejects") != rejects_digest():
        return no("the reject queue changed (records deleted, resolved or added since)")
    if token.get("envelopes") != envelopes_digest():
        return no("the latest export envelopes changed")
    now = catalog_digest()
    for entity, figures in now.items():
        seconds[entity] += figures["seconds"]
    for entity, figures in now.items():
        was = token["catalog"].get(entity, {})
        if (figures["rows"], figures["digest"]) != (was.get("rows"), was.get("digest")):
            return no(
                f"the stored {entity} changed since run #{previous.pk} "
                f"({was.get('rows')} → {figures['rows']} rows, content digest "
                f"{was.get('digest')} → {figures['digest']})"
            )
    return Decision(True, "", previous, token, seconds)


class Tracker:
    """The digests a full run takes of the rows each batch left (inside the batch's
    transaction), summed per entity, and the token recorded at the end when the rows the run
    matched still add up to them.

    The window it closes: a write by someone else that commits after a batch compared a row but
    before the run ends would otherwise be in the recorded digest although the run never
    compared it (the next run would skip over it). Any such write to a row the run matched, an
    update, a delete or a rename, makes the sums differ, and then no token is recorded.
    """

    def __init__(self):
        self.sums = {entity: [0, "0" * 16] for entity in SPECS}
        self.seconds = 0.0
        self.aliases = aliases_digest()  # before the pipeline reads them
        # Entities a first load filled (an empty table, locked until its one transaction
        # commits): their whole table's digest, taken inside that transaction before it commits.
        self.whole: dict[str, dict] = {}

    def whole_table(self, table: tables.Table) -> None:
        """A first load's table, digested whole inside its transaction: nobody else can have
        written it (it was empty and is locked), so these figures are what the token records
        for it. Taken before the commit, so a write that commits after it is not in them."""
        started = time.perf_counter()
        self.whole[table.entity] = catalog_digest(entities={table.entity})[table.entity]
        self.seconds += time.perf_counter() - started

    def batch(self, table: tables.Table) -> None:
        started = time.perf_counter()
        rows, digest = batch_digest(table)
        total = self.sums[table.entity]
        total[0] += rows
        total[1] = _add(total[1], digest)
        self.seconds += time.perf_counter() - started

    def finish(
        self, options, files, *, keep_newer: bool, run: BackfillRun
    ) -> tuple[dict | None, str, float]:
        """(the token, or None and why not; the seconds of the final digest)."""
        started = time.perf_counter()
        catalog = catalog_digest(seen=True, entities=set(SPECS) - set(self.whole))
        for entity, figures in catalog.items():
            rows, digest = self.sums[entity]
            if (figures["seen_rows"], figures["seen_digest"]) != (rows, digest):
                return (
                    None,
                    f"no state token recorded: {entity} the run had compared changed before "
                    "it ended (another writer); the next run reads the export in full",
                    time.perf_counter() - started,
                )
        catalog.update(self.whole)
        catalog = {entity: catalog[entity] for entity in SPECS}
        token = {
            "version": TOKEN_VERSION,
            "pipeline": pipeline_version(),
            "options": outcome_options(options, keep_newer=keep_newer),
            "files": [f.describe() for f in files],
            "aliases": self.aliases,
            "rejects": rejects_digest(),
            "envelopes": envelopes_digest(),
            "catalog": {
                entity: {"rows": f["rows"], "digest": f["digest"]} for entity, f in catalog.items()
            },
            "loaded_by": run.pk,
        }
        seconds = time.perf_counter() - started
        token["seconds"] = {"batches": round(self.seconds, 3), "end": round(seconds, 3)}
        return token, "", seconds
