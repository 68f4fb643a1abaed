"""The HTTP API (``/api/v1/``): views parse a request and let the live switch pick the store."""
