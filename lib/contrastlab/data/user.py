"""Your own data in ``fit`` and the sweeps: arrays or files of inputs, labels and a views function.

    toy = data.from_arrays(x, labels, views="noise", view_noise=0.1)   # tensors or NumPy arrays
    toy = data.from_arrays(x, labels, views=lambda batch, g: my_augment(batch, g))
    fit(toy, "simclr", steps=300)

    # a sweep config (contrastlab sweep): the registry entry "arrays" reads .npy/.npz/.pt/.csv files
    data: {name: arrays, x: features.npy, labels: labels.npy, view_noise: [0.05, 0.1, 0.2]}

A view of a batch is made by ``views``: a function ``(batch (B, ...), generator) -> (B, ...)`` that
draws its randomness from the ``torch.Generator`` it is given (so a seed gives the same views), or
the name of one of the kit's (``VIEWS``): ``"noise"`` adds Gaussian noise of std ``view_noise``,
``"mask"`` zeroes each feature with probability ``view_noise``, ``"none"`` returns the inputs.

``load_array(path, key=None)`` is the one reader of arrays from files, shared with
``contrastlab diagnose``: .npy, .npz (``key`` picks the array when it holds several), .pt (a tensor,
or a dict of tensors with ``key``), .csv/.tsv (the numeric columns, or the column ``key``) and
.parquet (the same; needs pyarrow). Paths in a sweep config are read from the folder the sweep is
started in; a run's id includes the resolved path, not the file's content.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from .. import validation as check
from .base import ToyData

__all__ = ["ArrayData", "from_arrays", "arrays", "load_array", "integer_labels", "VIEWS", "ARRAY_SUFFIXES",
           "ArrayFileError"]

ARRAY_SUFFIXES = (".npy", ".npz", ".pt", ".pth", ".csv", ".tsv", ".parquet")
"""The file kinds ``load_array`` reads."""


class ArrayFileError(ValueError):
    """A file ``load_array`` cannot read, or whose content is not the array asked for (one line)."""


def _noise(batch: Tensor, generator: torch.Generator, strength: float) -> Tensor:
    return batch + strength * torch.randn(batch.shape, generator=generator, device=batch.device, dtype=batch.dtype)


def _mask(batch: Tensor, generator: torch.Generator, strength: float) -> Tensor:
    keep = torch.rand(batch.shape, generator=generator, device=batch.device) >= strength
    return batch * keep.to(batch.dtype)


def _none(batch: Tensor, generator: torch.Generator, strength: float) -> Tensor:
    return batch


VIEWS: dict[str, Callable[[Tensor, torch.Generator, float], Tensor]] = {"noise": _noise, "mask": _mask, "none": _none}
"""The kit's views by name: (batch, generator, view_noise) -> a view of the batch."""


@dataclass(kw_only=True)
class ArrayData(ToyData):
    """The user's inputs ``x`` (N, ...) and ``labels`` (N,) (zeros when none were given), with views made
    by ``view_fn(batch, generator)``."""

    view_fn: Callable[[Tensor, torch.Generator], Tensor]

    @property
    def name(self) -> str:
        return "arrays"

    def _view(self, idx: Tensor, generator: torch.Generator) -> Tensor:
        batch = self.x[idx]
        view = self.view_fn(batch, generator)
        if not isinstance(view, Tensor) or view.shape != batch.shape:
            raise ValueError(f"views must return a tensor of the batch's shape {tuple(batch.shape)}, got "
                             f"{getattr(view, 'shape', type(view).__name__)}")
        return view


def _tensor(name: str, value: object, device) -> Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    check.instance(name, value, Tensor, "a torch.Tensor or a numpy.ndarray")
    return value.detach().to(device)


def from_arrays(x, labels=None, *, views: str | Callable[[Tensor, torch.Generator], Tensor] = "noise",
                view_noise: float = 0.1, device: torch.device | str | None = None) -> ArrayData:
    """A dataset for ``fit`` from your inputs.

    Args:
        x: (N, ...) inputs, a float tensor or NumPy array (any float dtype; stored as float32, or float64
            when given in float64). Every value must be finite.
        labels: None (all 0) or (N,) integer class labels (for kNN accuracy and supervised set-ups).
        views: a name of ``VIEWS`` or a function ``(batch, generator) -> view`` of the batch's shape.
        view_noise: the strength of the named views (noise std, mask probability), >= 0.
        device: where the tensors live (default: x's own device; CPU for an array).
    Returns: an ``ArrayData`` (a ``ToyData``) named "arrays".
    """
    device = None if device is None else torch.device(device)
    x = _tensor("x", x, device)
    if not x.is_floating_point():
        raise TypeError(f"x must hold floats (the inputs an encoder reads), got dtype {x.dtype}")
    x = x.to(torch.promote_types(x.dtype, torch.float32))
    if x.ndim < 2 or x.shape[0] < 2 or any(s == 0 for s in x.shape):
        raise ValueError(f"x must be an array (N, ...) of at least 2 rows and no empty axis, got shape "
                         f"{tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        bad = torch.nonzero(~torch.isfinite(x.reshape(len(x), -1)).all(1)).flatten()
        raise ValueError(f"x must be finite, got NaN or inf in {len(bad)} row(s): {bad[:10].tolist()}")
    if labels is None:
        y = torch.zeros(len(x), dtype=torch.long, device=x.device)
    else:
        y = _tensor("labels", labels, x.device)
        y = check.labels("labels", y, len(x), x.device).long()
    view_noise = check.number("view_noise", view_noise, low=0.0)
    if isinstance(views, str):
        named = VIEWS[check.choice("views", views, tuple(VIEWS))]
        view_fn = lambda batch, generator: named(batch, generator, view_noise)  # noqa: E731
        knobs = {"views": views, "view_noise": view_noise}
    elif callable(views):
        view_fn = views
        knobs = {"views": getattr(views, "__name__", "custom")}
    else:
        raise TypeError(f"views must be one of {sorted(VIEWS)} or a function (batch, generator) -> view, got "
                        f"{type(views).__name__}")
    return ArrayData(x=x, labels=y, knobs=knobs, view_fn=view_fn)


def arrays(x: str | None = None, labels: str | None = None, *, key: str | None = None, labels_key: str | None = None,
           views: str = "noise", view_noise: float = 0.1, seed: int = 0,
           device: torch.device | str = "cpu") -> ArrayData:
    """The registry entry ``"arrays"`` (``data.DATASETS``): ``from_arrays`` on arrays read from files.

    Args:
        x: the path of the inputs (any file ``load_array`` reads); ``key`` picks the array or column.
        labels: None or the path of (N,) integer labels; ``labels_key`` picks it (it may be the same file).
        views, view_noise: as in ``from_arrays`` (a named view: a config cannot hold a function).
        seed: unused by the data (the views draw from fit's generator); kept so every dataset takes one.
        device: where the tensors live.
    """
    seed = check.seed("seed", seed)
    if x is None:
        raise ValueError("x must be the path of the inputs (.npy, .npz, .pt, .csv, .tsv or .parquet), got None")
    features = load_array(x, key)
    y = None if labels is None else integer_labels(load_array(labels, labels_key), str(labels))
    if y is not None and len(y) != len(features):
        raise ValueError(f"labels must have one label per row of x: x has {len(features)} rows ({x}), labels has "
                         f"{len(y)} ({labels})")
    data = from_arrays(features, y, views=views, view_noise=view_noise, device=device)
    data.knobs.update(x=str(x), labels=None if labels is None else str(labels), seed=seed)
    return data


arrays.reads_files = True  # data.reads_files: it needs the user's files, so the apps do not offer it


def load_array(path, key: str | None = None) -> np.ndarray:
    """The array in the file ``path``; ``key`` names it in a file of several (an .npz key, a .pt dict key,
    a .csv/.tsv/.parquet column). Without ``key`` a table gives its numeric columns (N, K), and a file
    of several arrays is refused with their names. Raises FileNotFoundError, or ``ArrayFileError``
    (a ValueError) with one line that says what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in ARRAY_SUFFIXES:
        raise ArrayFileError(f"{path}: cannot read {suffix or 'a file without a suffix'}; expected one of "
                             f"{', '.join(ARRAY_SUFFIXES)}")
    try:
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
            if key is not None:
                raise ArrayFileError(f"{path}: an .npy file holds one array; --key/key {key!r} does not apply")
            return _numeric(array, path)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                return _numeric(_pick(dict(archive.items()), key, path, "key"), path)
        if suffix in (".pt", ".pth"):
            obj = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(obj, dict):
                obj = _pick(obj, key, path, "key")
            elif key is not None:
                raise ArrayFileError(f"{path}: holds one {type(obj).__name__}, not a dict; key {key!r} does not apply")
            if not isinstance(obj, Tensor):
                raise ArrayFileError(f"{path}: expected a tensor, got {type(obj).__name__}")
            return _numeric(obj.detach().cpu().float().numpy() if obj.dtype == torch.bfloat16 else
                            obj.detach().cpu().numpy(), path)
        return _table(path, suffix, key)
    except (ArrayFileError, FileNotFoundError):
        raise
    except ImportError as error:
        raise ArrayFileError(f"{path}: reading {suffix} needs a package that is missing: {error}") from error
    except Exception as error:  # a damaged file: numpy, torch or pandas say why
        raise ArrayFileError(f"{path}: cannot read it as {suffix}: {type(error).__name__}: {error}") from error


def integer_labels(array: np.ndarray, source: str = "labels") -> np.ndarray:
    """(N,) int64 class labels from an array read from a file: integers, or floats that are whole
    numbers (a CSV column), (N,) or (N, 1); anything else is an ``ArrayFileError`` naming ``source``."""
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ArrayFileError(f"{source}: labels must be one label per row (N,), got shape {array.shape}")
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise ArrayFileError(f"{source}: labels must be integer class labels, got non-integer values")
    elif not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        raise ArrayFileError(f"{source}: labels must be integer class labels, got dtype {array.dtype}")
    return array.astype(np.int64)


def _pick(arrays_: dict, key: str | None, path: Path, what: str):
    names = list(arrays_)
    if key is None:
        if len(names) == 1:
            return arrays_[names[0]]
        raise ArrayFileError(f"{path}: holds {len(names)} arrays ({', '.join(map(str, names))}); pick one by its "
                             f"{what} (contrastlab diagnose: --key, --labels-key, --pairs-key)")
    if key not in arrays_:
        raise ArrayFileError(f"{path}: has no {key!r}; it holds {', '.join(map(str, names))}")
    return arrays_[key]


def _numeric(array: np.ndarray, path: Path) -> np.ndarray:
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
            or array.dtype == np.bool_):
        raise ArrayFileError(f"{path}: expected numbers, got an array of dtype {array.dtype}")
    return array


def _table(path: Path, suffix: str, key: str | None) -> np.ndarray:
    import pandas as pd

    if suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    if key is not None:
        if key not in frame.columns:
            raise ArrayFileError(f"{path}: has no column {key!r}; its columns are {', '.join(map(str, frame.columns))}")
        column = frame[key]
        first = column.iloc[0] if len(column) else None
        if isinstance(first, (list, tuple, np.ndarray)):  # a column of vectors (parquet lists)
            return _numeric(np.stack([np.asarray(v) for v in column]), path)
        return _numeric(column.to_numpy(), path)
    numeric = frame.select_dtypes("number")
    if numeric.shape[1] == 0:
        raise ArrayFileError(f"{path}: has no numeric column; its columns are {', '.join(map(str, frame.columns))}")
    return numeric.to_numpy()
