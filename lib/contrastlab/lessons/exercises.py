"""The part every exercise self-check shares: calling the learner's function.

A self-check must never raise at the learner (an unfinished exercise prints what to do and the
notebook runs on), so each check starts with ``attempt``::

    done, got = attempt(fn, z, name="my_alignment")
    if not done:
        return False
    ...  # compare got with the package's answer and explain the first difference
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["attempt"]


def attempt(fn: Callable[..., Any], *args: Any, name: str = "your function", **kwargs: Any) -> tuple[bool, Any]:
    """Call ``fn(*args, **kwargs)`` for a self-check.

    Returns ``(True, result)``; or, after printing one line that says what to do, ``(False, None)``
    when ``fn`` raised (the error is reported, not re-raised) or returned None (the starter's body).
    ``name`` is how the messages call the function.
    """
    try:
        result = fn(*args, **kwargs)
    except Exception as error:  # reported, not raised: the learner fixes it
        print(f"Not yet: {name} raised {type(error).__name__}: {error}")
        return False, None
    if result is None:
        print(f"Not done yet: {name} returns None. Fill in its body (a solution is below).")
        return False, None
    return True, result
