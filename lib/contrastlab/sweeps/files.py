"""The run folder's files: written whole or not at all, and read back.

Every file a sweep writes goes to a temporary name (``.<name>.<pid>.tmp``) and is renamed onto its
real name, so a killed sweep never leaves a half-written file under a real name; ``sweep`` removes
the temporary files a killed process left behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

__all__ = ["atomic_write", "write_text", "write_json", "read_csv", "to_yaml"]


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` then rename onto ``path``: readers see the old file or the whole new one, never a part."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, obj: object) -> None:
    write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def read_csv(path: Path):
    import pandas as pd

    return pd.read_csv(path)  # pandas 3 parses floats exactly: the frame survives a round trip


def to_yaml(obj: object) -> str:
    """YAML in the config's own order, without anchors (a swept list appears twice)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data):
            return True

    return yaml.dump(obj, Dumper=Dumper, sort_keys=False, allow_unicode=True)
