"""The catalog: providers, models and statuses; their schema, API shapes, read selectors and admin.
Knows nothing of the move (migrator) or of the live switch (live)."""
