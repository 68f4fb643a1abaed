"""Error text the catalog shows: the first line only (drivers add hints and context below it)."""


def first_line(exc: BaseException) -> str:
    """An exception's message, first line only."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
