"""The live switch: which store serves each read (state, routing, canary, fallback, shadow, guard)
and where each write goes (primary, secondary, queues). Imports catalog and migrator, never back."""
