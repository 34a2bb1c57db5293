"""One rule for defaults: each loss's default is its paper's (the table in CONVENTIONS.md, checked
here against the signatures); each set-up's default is its loss's."""

import inspect
import math
import re
from pathlib import Path

import pytest

from contrastlab import data, losses
from contrastlab.methods import METHODS, Method, build_method

CONVENTIONS = Path(__file__).resolve().parents[1] / "CONVENTIONS.md"
REQUIRED = "required"
# Building blocks of the losses (they take τ, τ⁺ and β from their caller, and have no defaults).
BUILDING_BLOCKS = {"negative_logits", "hard_negative_from_logits", "debiased_log_negatives"}
# Argument names that are a loss's hyperparameter even where the loss has no default for them.
HYPERPARAMETER = re.compile(r"temperature|.*scale|.*weight|.*bias|tau_plus|beta|lambda_|alpha|t")


def parameters(obj) -> dict[str, inspect.Parameter]:
    """A function's parameters, or a class's constructor's (without self)."""
    return dict(inspect.signature(obj).parameters)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def defaults_table() -> list[tuple[str, str, str]]:
    """(loss, argument, default) for each row of the table under '## Defaults'."""
    section = CONVENTIONS.read_text().split("\n## Defaults\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]  # after header and |---|
    assert rows, "CONVENTIONS.md has no defaults table"
    table = []
    for line in rows:
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 4 and cells[3], f"a row needs loss | argument | default | source: {line!r}"
        table.append((cells[0], cells[1], cells[2]))
    return table


def value(text: str) -> float:
    """'0.1', '25', '1/0.07' -> a number."""
    numerator, _, denominator = text.partition("/")
    return float(numerator) / (float(denominator) if denominator else 1.0)


TABLE = defaults_table()


@pytest.mark.parametrize("loss, argument, default", TABLE, ids=[f"{r[0]}.{r[1]}" for r in TABLE])
def test_each_row_of_the_defaults_table_matches_the_code(loss, argument, default):
    assert loss in losses.__all__, f"CONVENTIONS.md lists {loss}, which contrastlab.losses does not export"
    params = parameters(getattr(losses, loss))
    assert argument in params, f"{loss} has no argument {argument!r} (CONVENTIONS.md lists it)"
    actual = params[argument].default
    if default == REQUIRED:
        assert actual is inspect.Parameter.empty, f"{loss}({argument}=...) has default {actual}, the table says required"
    else:
        assert is_number(actual), f"{loss}({argument}=...) has no numeric default; the table says {default}"
        assert math.isclose(actual, value(default), rel_tol=1e-12), \
            f"{loss}({argument}={actual}) but CONVENTIONS.md says {default}: change one of them"


def test_every_loss_hyperparameter_is_in_the_table():
    listed = {(loss, argument) for loss, argument, _ in TABLE}
    assert len(listed) == len(TABLE), "a (loss, argument) row is repeated in CONVENTIONS.md"
    missing = []
    for name in sorted(set(losses.__all__) - BUILDING_BLOCKS):
        for argument, param in parameters(getattr(losses, name)).items():
            numeric = is_number(param.default)
            required_hyper = (param.default is inspect.Parameter.empty and param.kind is param.KEYWORD_ONLY
                              and HYPERPARAMETER.fullmatch(argument))
            if (numeric or required_hyper) and (name, argument) not in listed:
                missing.append(f"{name}({argument}={param.default if numeric else REQUIRED})")
    assert not missing, f"add these to the defaults table in CONVENTIONS.md, with their source: {missing}"


def init_defaults(cls: type[Method]) -> dict[str, object]:
    """The defaults a set-up is built with: its own ``__init__``'s, then those of the classes it
    forwards ``**options`` to (the nearest class wins)."""
    out = {}
    for klass in cls.__mro__:
        if klass is Method or not issubclass(klass, Method):
            break
        if "__init__" in vars(klass):
            for name, param in parameters(klass.__init__).items():
                if param.default is not inspect.Parameter.empty:
                    out.setdefault(name, param.default)
    return out


@pytest.mark.parametrize("name", sorted(METHODS))
def test_each_set_up_defaults_to_its_losses_defaults(name):
    cls = METHODS[name]
    defaults = init_defaults(cls)
    for objective in cls.objectives:
        for argument, param in parameters(objective).items():
            if argument in defaults and param.default is not inspect.Parameter.empty:
                assert defaults[argument] == param.default, (
                    f"{cls.__name__}({argument}={defaults[argument]!r}) but {objective.__name__} defaults to "
                    f"{param.default!r}: read it with methods.loss_default({objective.__name__}, {argument!r})")


def test_every_contrastive_set_up_names_its_losses():
    without = [name for name, cls in METHODS.items() if not cls.objectives and name != "ce"]
    assert not without, f"set-ups without objectives (the losses their defaults come from): {without}"


def test_clip_starts_its_learnable_scale_where_learnable_logit_scale_does():
    assert init_defaults(METHODS["clip"])["init_scale"] == parameters(losses.LearnableLogitScale)["init_scale"].default


def test_fit_and_the_loss_use_the_same_temperature():
    toy = data.vmf_mixture(64, n_classes=4, dim=8)
    tau = parameters(losses.nt_xent)["temperature"].default
    assert build_method("simclr", toy).temperature == tau == 0.1
    for name in ("infonce", "dcl", "supcon", "moco", "oracle", "debiased"):
        loss = METHODS[name].objectives[0]
        assert build_method(name, toy).temperature == parameters(loss)["temperature"].default, name
