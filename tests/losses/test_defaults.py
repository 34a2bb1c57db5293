"""The defaults' rule, where a reader meets it: each loss's docstring states its default and the
source of that default in one phrase, and each fast path defaults as its dense loss.

(tests/test_defaults.py checks the signatures of the exported losses against CONVENTIONS.md's table.)
"""

import inspect
import re

import pytest

import contrastlab.losses as L
from contrastlab.losses import distributed, tiled

BUILDING_BLOCKS = {"negative_logits", "hard_negative_from_logits", "debiased_log_negatives"}
FAST_PATHS = {tiled.info_nce_tiled: L.info_nce, distributed.info_nce_distributed: L.info_nce,
              tiled.nt_xent_tiled: L.nt_xent, distributed.nt_xent_distributed: L.nt_xent}
LOSSES = [getattr(L, name) for name in L.__all__ if name not in BUILDING_BLOCKS
          and not inspect.isclass(getattr(L, name))] + list(FAST_PATHS)
HYPERPARAMETERS = ("temperature", "tau_plus", "beta")
CASES = [(loss, name, p.default) for loss in LOSSES for name, p in inspect.signature(loss).parameters.items()
         if name in HYPERPARAMETERS and p.default is not inspect.Parameter.empty]


def test_the_table_is_not_empty():
    assert {loss.__name__ for loss, _, _ in CASES} >= {"info_nce", "nt_xent", "filtered_nt_xent", "supcon",
                                                       "nt_xent_tiled", "nt_xent_distributed"}


@pytest.mark.parametrize("loss, name, default", CASES, ids=[f"{c[0].__name__}.{c[1]}" for c in CASES])
def test_the_docstring_states_the_default_and_its_source(loss, name, default):
    doc = " ".join(inspect.getdoc(loss).split())  # one line, whatever the wrapping
    # e.g. "default 0.1, SimCLR's (Chen et al. 2020)" or "default 0.1, as ``info_nce``"
    phrase = rf"default {re.escape(str(default))}[,;]? [^.]*?(et al\. \d{{4}}|as ``\w+``)"
    assert re.search(phrase, doc), f"{loss.__name__}: say 'default {default}' and where it comes from for {name}"


@pytest.mark.parametrize("fast, dense", FAST_PATHS.items(), ids=lambda f: f.__name__)
def test_fast_paths_default_as_their_dense_loss(fast, dense):
    fast_default = inspect.signature(fast).parameters["temperature"].default
    assert fast_default == inspect.signature(dense).parameters["temperature"].default
