"""An average both stores compute exactly, so that the JSON and database backends agree.

A float sum depends on the order of the rows (PostgreSQL's order is not fixed), and the mean
rounded to two decimals could then differ in its last digit between the two read backends. So
the mean is taken over the values' decimal spelling, exactly: ``numeric`` on PostgreSQL, a small
aggregate on SQLite, ``Decimal`` in Python; then rounded half away from zero.
"""

from decimal import ROUND_HALF_UP, Decimal, localcontext

from django.db.models import Aggregate, FloatField

CENT = Decimal("0.01")
# Enough digits to add any doubles exactly (a double's decimal spelling spans at most ~770
# digits between its largest and smallest exponent): the sum is then the same in any order and
# any grouping, as PostgreSQL's numeric.
EXACT_DIGITS = 2000


def exact_sum(values) -> tuple[Decimal, int]:
    """The exact sum of the non-null values' decimal spelling, and their count."""
    total, count = Decimal(0), 0
    with localcontext(prec=EXACT_DIGITS):
        for value in values:
            if value is not None:
                total += Decimal(repr(float(value)))
                count += 1
    return total, count


def mean_of_sum(total: Decimal, count: int) -> float | None:
    """The mean from an exact sum and a count, rounded to two decimals (None for no values)."""
    if not count:
        return None
    return float((total / count).quantize(CENT, rounding=ROUND_HALF_UP))


def exact_mean(values) -> float | None:
    """The mean of the non-null values, exact, rounded to two decimals (None for none)."""
    return mean_of_sum(*exact_sum(values))


class SqliteExactMean:
    """``catalog_exact_mean(x)`` for SQLite connections (see CatalogConfig.ready)."""

    def __init__(self):
        self.values = []

    def step(self, value):
        self.values.append(value)

    def finalize(self):
        return exact_mean(self.values)


class ExactMean(Aggregate):
    """AVG over the exact decimal values, rounded to two decimals."""

    function = "catalog_exact_mean"
    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            function="AVG",
            template="ROUND(%(function)s((%(expressions)s)::numeric), 2)::float8",
            **extra,
        )
