"""Hypothesis profiles of the fuzz suite, and a count of its outcomes printed at the end of the run.

``default``: a few examples per function, deterministic (``derandomize``), no deadline: the whole suite
in well under a minute, part of ``make test``. ``slow``: many random examples, chosen with
``CONTRASTLAB_FUZZ=slow`` (``make fuzz``, and ``make test-all`` runs it).
"""

import os

from hypothesis import HealthCheck, settings

from .contract import OUTCOMES

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("default", max_examples=20, deadline=None, derandomize=True, database=None,
                          suppress_health_check=_QUIET, print_blob=True)
settings.register_profile("slow", max_examples=250, deadline=None, database=None,
                          suppress_health_check=_QUIET, print_blob=True)
settings.load_profile(os.environ.get("CONTRASTLAB_FUZZ", "default"))


def pytest_terminal_summary(terminalreporter):
    if not OUTCOMES:
        return
    functions = sorted({function for function, _ in OUTCOMES})
    valid = sum(n for (_, outcome), n in OUTCOMES.items() if outcome == "valid")
    invalid = sum(n for (_, outcome), n in OUTCOMES.items() if outcome == "invalid")
    profile = os.environ.get("CONTRASTLAB_FUZZ", "default")
    terminalreporter.write_sep("-", f"fuzz, profile {profile!r}: {settings.default.max_examples} examples per test")
    terminalreporter.write_line(f"{len(functions)} functions, {valid + invalid} calls: {valid} valid inputs "
                                f"(finite, checked result), {invalid} invalid inputs (refused by name)")
