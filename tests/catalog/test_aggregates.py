from decimal import Decimal, localcontext

from catalog.aggregates import EXACT_DIGITS, exact_mean, exact_sum, mean_of_sum

VALUES = [5e-324, 100.0, 0.01, 33.333333333333336, None, 99.99]


def test_exact_sum__keeps_every_digit():
    total, count = exact_sum(VALUES)
    assert count == 5
    # At Decimal's default 28 digits the smallest double would vanish next to 100.
    with localcontext(prec=EXACT_DIGITS):
        assert total - Decimal("233.333333333333336") == Decimal("5e-324")


def test_exact_sum__same_mean_whatever_the_grouping():
    parts = [exact_sum(VALUES[:2]), exact_sum(VALUES[2:4]), exact_sum(VALUES[4:])]
    with localcontext(prec=EXACT_DIGITS):
        total = sum((part[0] for part in parts), Decimal(0))
        assert total == exact_sum(VALUES)[0]
    assert mean_of_sum(total, sum(part[1] for part in parts)) == exact_mean(VALUES) == 46.67


def test_mean_of_sum__no_values():
    assert mean_of_sum(Decimal(0), 0) is None
    assert exact_mean([None]) is None
