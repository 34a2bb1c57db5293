"""`contrastlab diagnose`: every file format, the report, sentences, and one clear line for bad input."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from contrastlab.cli import main

REPO = Path(__file__).resolve().parents[1]


def embeddings(n: int = 120, d: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return (rng.standard_normal((3, d))[y] * 2 + rng.standard_normal((n, d))).astype(np.float32), y


def write(path: Path, x: np.ndarray, y: np.ndarray) -> list[str]:
    """Write x (and y where the format holds several arrays) to ``path``; the CLI arguments that read it back."""
    suffix = path.suffix
    if suffix == ".npy":
        np.save(path, x)
        return [str(path)]
    if suffix == ".npz":
        np.savez(path, emb=x, y=y)
        return [str(path), "--key", "emb", "--labels", str(path), "--labels-key", "y"]
    if suffix == ".pt":
        torch.save({"emb": torch.from_numpy(x), "y": torch.from_numpy(y)}, path)
        return [str(path), "--key", "emb", "--labels", str(path), "--labels-key", "y"]
    import pandas as pd

    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    if suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, sep="\t" if suffix == ".tsv" else ",", index=False)
    return [str(path)]


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".pt", ".csv", ".tsv", ".parquet"])
def test_each_format_round_trips(tmp_path, capsys, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    x, y = embeddings()
    args = write(tmp_path / f"emb{suffix}", x, y)
    assert main(["diagnose", *args]) == 0
    out = capsys.readouterr().out
    assert re.search(r"rows\s+120\s", out) and re.search(r"dimensions\s+8", out)
    assert ("kNN accuracy" in out) == ("--labels" in args)
    assert "findings:" in out


def test_the_report_and_the_pairs(tmp_path, capsys):
    x, y = embeddings()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "x2.npy", x + 0.01)
    np.savetxt(tmp_path / "y.csv", y, fmt="%d", header="label", comments="")
    report = tmp_path / "report.html"
    assert main(["diagnose", str(tmp_path / "x.npy"), "--pairs", str(tmp_path / "x2.npy"), "--labels",
                 str(tmp_path / "y.csv"), "--out", str(report)]) == 0
    out = capsys.readouterr().out
    assert "alignment (pairs)" in out and f"report: {report}" in out
    page = report.read_text()
    assert "Embedding diagnosis" in page and not re.search(r"<script[^>]+src=[\"']https?://", page)


def test_findings_are_printed(tmp_path, capsys):
    collapsed = np.ones((50, 16), dtype=np.float32) + 1e-3 * np.random.default_rng(0).standard_normal((50, 16))
    np.save(tmp_path / "c.npy", collapsed.astype(np.float32))
    assert main(["diagnose", str(tmp_path / "c.npy")]) == 0
    assert "  - complete collapse: std·√d = " in capsys.readouterr().out


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("contrastlab diagnose: ")
    return lines[0]


def test_bad_files_and_mismatched_shapes_give_one_line_and_exit_2(tmp_path, capsys):
    x, y = embeddings()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "short.npy", x[:10])
    np.save(tmp_path / "y_short.npy", y[:7])
    np.save(tmp_path / "flat.npy", x[:, 0])
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    (tmp_path / "words.csv").write_text("a,b\nx,y\n")
    np.savez(tmp_path / "two.npz", a=x, b=x)
    cases = [
        ([str(tmp_path / "missing.npy")], "no such file"),
        ([str(tmp_path / "broken.npy")], "cannot read it as .npy"),
        ([str(tmp_path / "words.csv")], "has no numeric column"),
        ([str(tmp_path / "two.npz")], "holds 2 arrays (a, b)"),
        ([str(tmp_path / "two.npz"), "--key", "c"], "has no 'c'"),
        ([str(tmp_path / "flat.npy")], "expected a 2-d array (N, D)"),
        ([str(tmp_path / "x.npy"), "--pairs", str(tmp_path / "short.npy")], "pairs must have the shape"),
        ([str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y_short.npy")], "labels must have shape (120,)"),
        ([], "give an embeddings FILE or --sentences TEXT"),
    ]
    for args, message in cases:
        assert main(["diagnose", *args]) == 2, args
        assert message in error_line(capsys), args


def test_sentences_with_the_shipped_minilm(tmp_path, capsys):
    with open(REPO / "data" / "text" / "sentences.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    (tmp_path / "s.txt").write_text("\n".join(r["sentence"] for r in rows[::20]) + "\n")  # 30 sentences
    assert main(["diagnose", "--sentences", str(tmp_path / "s.txt"), "--neighbours", "2"]) == 0
    out = capsys.readouterr().out
    assert "30 sentences, all-MiniLM-L6-v2" in out and re.search(r"dimensions\s+384", out)
    assert "anisotropy (mean cosine)" in out and "uniformity (t = 2)" in out
    neighbours = out.split("nearest neighbours (cosine):")[1]
    assert neighbours.count("    0.") + neighbours.count("    1.") + neighbours.count("    -0.") >= 4
    from contrastlab.lessons.sentence_embeddings import minilm_path

    folder = str(minilm_path())  # a sentence-transformers folder (modules.json): its own pooling, offline
    assert main(["diagnose", "--sentences", str(tmp_path / "s.txt"), "--model", folder, "--neighbours", "0"]) == 0
    assert f"30 sentences, {folder}" in capsys.readouterr().out
    assert main(["diagnose", "--sentences", str(tmp_path / "s.txt"), "--model", str(tmp_path)]) == 2
    assert "not a model folder" in error_line(capsys)
