"""Semantic equality of a mapped export value and a database value.

Timestamps are equal as instants (``Z`` and ``+00:00`` alike), JSON values regardless of key
order, numbers exactly (``1 == 1.0``) unless a float tolerance is given.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal


def values_equal(a, b, *, tolerance: float = 0.0) -> bool:
    if a is b:
        return True
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return a == b  # aware datetimes compare as instants
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float | Decimal) and isinstance(b, int | float | Decimal):
        if tolerance and (isinstance(a, float) or isinstance(b, float)):
            return math.isclose(float(a), float(b), rel_tol=0.0, abs_tol=tolerance)
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(
            values_equal(a[k], b[k], tolerance=tolerance) for k in a
        )
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(
            values_equal(x, y, tolerance=tolerance) for x, y in zip(a, b, strict=True)
        )
    return a == b
