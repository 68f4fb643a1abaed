"""Typed reads of the environment: an invalid value stops start-up with one line naming the
variable, the value and what is allowed.

django-environ's own casts raise a bare ``ValueError`` (``could not convert string to float: ''``)
that names neither, and its ``bool`` takes any unknown word (``DEBUG=maybe``) as false.
"""

from __future__ import annotations

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


class Environment:
    """The variables of one environment (``env.ENVIRON``), read and checked one by one."""

    def __init__(self, env: environ.Env):
        self.env = env

    def raw(self, name: str) -> str | None:
        """The value as given, or None when unset (an empty value counts as unset)."""
        value = self.env.ENVIRON.get(name)
        return None if value is None or value.strip() == "" else value

    @staticmethod
    def invalid(name: str, value: str, allowed: str) -> ImproperlyConfigured:
        """The one-line error for ``name=value``: what is allowed instead."""
        return ImproperlyConfigured(f"{name}={value!r} is not valid: use {allowed}.")

    def str(self, name: str, default: str = "") -> str:
        value = self.raw(name)
        return default if value is None else value

    def bool(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise self.invalid(name, value, "true or false (also 1/0, yes/no, on/off)")

    def int(self, name: str, default: int, *, minimum: int = 0, unit: str = "") -> int:
        value = self.raw(name)
        if value is None:
            return default
        allowed = f"a whole number{f' of {unit}' if unit else ''}, {minimum} or more"
        try:
            number = int(value.strip())
        except ValueError:
            raise self.invalid(name, value, allowed) from None
        if number < minimum:
            raise self.invalid(name, value, allowed)
        return number

    def float(self, name: str, default: float, *, positive: bool = False, unit: str = "") -> float:
        value = self.raw(name)
        if value is None:
            return default
        allowed = (
            f"a number{f' of {unit}' if unit else ''}, "
            f"{'more than 0' if positive else '0 or more'} (e.g. {default:g})"
        )
        try:
            number = float(value.strip())
        except ValueError:
            raise self.invalid(name, value, allowed) from None
        if number != number or number in (float("inf"), float("-inf")):  # nan, inf
            raise self.invalid(name, value, allowed)
        if number < 0 or (positive and number == 0):
            raise self.invalid(name, value, allowed)
        return number

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.raw(name)
        if value is None:
            return default
        word = value.strip().lower()
        if word not in choices:
            raise self.invalid(name, value, f"one of {', '.join(choices)}")
        return word

    def list(self, name: str, default: list[str]) -> list[str]:
        value = self.raw(name)
        if value is None:
            return list(default)
        return [item.strip() for item in value.split(",") if item.strip()]

    def cache(self, name: str, default: str) -> dict:
        value = self.str(name, default)
        try:
            return environ.Env.cache_url_config(value)
        except (ImproperlyConfigured, ValueError, KeyError) as exc:
            raise self.invalid(
                name, value, f"a cache URL such as locmemcache:// or redis://host:6379/1 ({exc})"
            ) from None
