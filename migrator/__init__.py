"""The move from a JSON export to the database: reading exports, the acceptance pipeline, the
loader (backfill_json), the comparer (validate_migration), prune and the reject queue."""
