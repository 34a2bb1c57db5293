"""Helpers of the numbered lessons, one module per notebook (``temperature`` serves
``notebooks/03_temperature``), plus ``setup`` (a notebook's first cell) and ``exercises`` (the
self-checks). A helper that a second lesson or a user would want belongs in the core instead."""

from .setup import Lesson, setup

__all__ = ["Lesson", "setup"]
