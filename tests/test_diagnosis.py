"""contrastlab.diagnose: the findings of four known geometries, the numbers against metrics, inputs."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import contrastlab
from contrastlab import diagnosis as G
from contrastlab import metrics as M
from contrastlab.interactive.diagnosis import Diagnosis, diagnose


def embeddings(kind: str, n: int = 1000, d: int = 384, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "spread":
        return torch.randn(n, d, generator=g)
    if kind == "collapsed":  # one point and a little noise
        return torch.randn(1, d, generator=g) + 0.003 * torch.randn(n, d, generator=g)
    if kind == "dimensional":  # 3 random directions carry the variance
        basis = torch.linalg.qr(torch.randn(d, 3, generator=g))[0]  # (d, 3)
        return torch.randn(n, 3, generator=g) @ basis.T + 0.01 * torch.randn(n, d, generator=g)
    if kind == "anisotropic":  # a cone around one direction: mean cosine about 0.6
        direction = torch.nn.functional.normalize(torch.randn(d, generator=g), dim=0)
        return torch.randn(n, d, generator=g) / math.sqrt(d) + 1.3 * direction
    raise ValueError(kind)


@pytest.mark.parametrize("kind, causes", [
    ("spread", []),
    ("collapsed", ["complete_collapse"]),
    ("dimensional", ["dimensional_collapse"]),
    ("anisotropic", ["anisotropic"]),
])
def test_each_geometry_gets_exactly_its_findings(kind, causes):
    d = diagnose(embeddings(kind))
    assert [f.cause for f in d.findings] == causes
    for finding in d.findings:  # each says its value and its threshold
        assert re.search(r"\d", finding.message) and "threshold" in finding.message


def test_the_findings_read_as_the_issue_says():
    (collapse,) = diagnose(embeddings("collapsed")).findings
    assert re.match(r"complete collapse: std·√d = 0\.0\d+, a spread embedding gives ≈ 1", collapse.message)
    (dimensional,) = diagnose(embeddings("dimensional")).findings
    assert dimensional.message.startswith("dimensional collapse: 90% of the variance in 3 of 384 directions")
    (cone,) = diagnose(embeddings("anisotropic")).findings
    assert re.match(r"anisotropic: mean cosine 0\.\d\d .*— a cone, as in pretrained sentence encoders", cone.message)


def test_the_table_is_tidy_and_agrees_with_the_metrics():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(300, 16, generator=g)
    z2 = z + 0.2 * torch.randn(300, 16, generator=g)
    y = torch.arange(300) % 3
    d = diagnose(z, labels=y, pairs=z2)
    table = d.table
    assert list(table.columns) == ["statistic", "value", "reference", "note"]
    value = dict(zip(table["statistic"], table["value"]))
    assert value["effective rank"] == pytest.approx(M.effective_rank(z), rel=1e-5)
    assert value["RankMe"] == pytest.approx(M.rankme(z), rel=1e-5)
    assert value["anisotropy (mean cosine)"] == pytest.approx(M.anisotropy(z), abs=1e-6)
    assert value["uniformity (t = 2)"] == pytest.approx(M.uniformity(z), rel=1e-5)
    assert value["alignment (pairs)"] == pytest.approx(M.alignment(z, z2), rel=1e-5)
    assert value["kNN accuracy"] == pytest.approx(M.knn_accuracy(z, y, k=20))
    assert value["std·√d (mean over dims)"] == pytest.approx(M.collapse_std(z) * 4, rel=1e-5)
    reference = dict(zip(table["statistic"], table["reference"]))
    assert reference["uniformity (t = 2)"] == pytest.approx(M.uniform_sphere_uniformity(16))
    assert "on all 300 rows" in d.notes[0]


def test_rows_with_nan_or_inf_are_named_and_left_out():
    z = embeddings("spread", n=200, d=8)
    clean = diagnose(z)
    dirty = z.clone()
    dirty[[3, 50]] = float("nan")
    dirty[7, 2] = float("inf")
    d = diagnose(torch.cat([dirty, z[:0]]))
    assert d.dropped.tolist() == [3, 7, 50]
    assert d.findings[0].cause == "left_out" and "rows 3, 7, 50" in d.findings[0].message
    keep = [i for i in range(200) if i not in (3, 7, 50)]
    assert d.stats["erank"] == pytest.approx(diagnose(z[keep]).stats["erank"])
    assert d.stats["rows"] == 197 and clean.stats["rows"] == 200
    pairs = z.clone()
    pairs[10] = float("nan")  # a bad pair row leaves its row out too
    assert diagnose(z, pairs=pairs).dropped.tolist() == [10]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_numpy_arrays_of_any_float_dtype(dtype):
    z = embeddings("spread", n=200, d=16)
    d = diagnose(z.numpy().astype(dtype))
    assert d.stats["erank"] == pytest.approx(M.effective_rank(z), rel=1e-2)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_torch_tensors_of_any_float_dtype(dtype):
    z = embeddings("spread", n=200, d=16)
    assert diagnose(z.to(dtype)).stats["erank"] == pytest.approx(M.effective_rank(z), rel=1e-2)


def test_bad_inputs_are_refused_by_name():
    z = embeddings("spread", n=50, d=4)
    with pytest.raises(TypeError, match="embeddings must be a torch.Tensor or a numpy.ndarray"):
        diagnose(z.tolist())
    expected = r"embeddings must be a 2-d floating-point tensor \(N, D\), got "
    with pytest.raises(TypeError, match=expected + "dtype torch.int64"):
        diagnose(np.ones((5, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=expected + r"shape \(50,\)"):
        diagnose(z[:, 0])
    with pytest.raises(ValueError, match=r"pairs must have the shape of embeddings \(50, 4\)"):
        diagnose(z, pairs=z[:10])
    with pytest.raises(ValueError, match=r"labels must have shape \(50,\)"):
        diagnose(z, labels=torch.zeros(10, dtype=torch.long))
    with pytest.raises(TypeError, match="labels must be integer class labels"):
        diagnose(z, labels=np.zeros(50))
    with pytest.raises(ValueError, match="at least 2 finite rows"):
        diagnose(torch.full((3, 4), float("nan")))
    with pytest.raises(ValueError, match="max_sample must be an integer >= 2"):
        diagnose(z, max_sample=1)


def test_duplicates_and_near_duplicates():
    z = embeddings("spread", n=300, d=32)
    z[100:110] = z[0]  # 10 exact copies of row 0
    z[200:220] = z[50] * (1 + 1e-3 * torch.arange(1, 21))[:, None]  # 20 near copies of row 50 (its direction)
    causes = {f.cause: f for f in diagnose(z).findings}
    assert causes["duplicates"].value == 10
    assert causes["near_duplicates"].value == pytest.approx(32 / 300)  # rows 0, 100-109, 50, 200-219


def test_knn_at_chance_and_not_aligned():
    z = embeddings("spread", n=400, d=16)
    random = torch.randint(0, 4, (400,), generator=torch.Generator().manual_seed(0))
    causes = [f.cause for f in diagnose(z, labels=random, pairs=torch.randn(400, 16)).findings]
    assert causes == ["not_aligned", "knn_at_chance"]
    centres = torch.cat([torch.eye(16)[:4], -torch.eye(16)[:4]])  # 8 classes, mean cosine about 0
    random = torch.randint(0, 8, (400,), generator=torch.Generator().manual_seed(0))
    clustered = centres[random] + 0.05 * z
    assert [f.cause for f in diagnose(clustered, labels=random, pairs=clustered + 0.01 * z).findings] == []


def test_large_inputs_use_a_stated_subsample_and_the_chunked_spectrum():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6000, 700, generator=g) * torch.linspace(1, 0.01, 700)  # above the SVD size: Gram path
    d = diagnose(z, max_sample=1000)
    assert len(d.sample) == 1000 and len(d.sample_embeddings) == 1000
    assert "on a random subsample of 1000 of 6000 rows (seed 0)" in d.notes[0]
    assert "subsample of 1000 of 6000" in d.table.set_index("statistic").loc["uniformity (t = 2)", "note"]
    assert d.stats["erank"] == pytest.approx(M.effective_rank(z), rel=1e-3)  # float64 Gram vs float32 SVD
    assert d.stats["anisotropy"] == pytest.approx(M.anisotropy(z), abs=1e-6)


def test_figure_and_offline_report(tmp_path):
    z = embeddings("dimensional", n=300, d=32)
    d = diagnose(z, labels=torch.arange(300) % 3, pairs=z + 0.01)
    fig = d.figure()
    names = [t.name for t in fig.data]
    assert names[:2] == ["σ uncentred", "σ centred"] and "all pairs" in names and "positive pairs" in names
    assert {"0", "1", "2"} <= set(names)  # the projection, one trace per label
    assert "dimensional collapse" in fig.layout.title.text
    page = d.to_html(tmp_path / "report.html").read_text()
    assert "dimensional collapse: 90% of the variance" in page
    assert "plotly.js v" in page or "Plotly" in page  # the library itself is in the page
    assert not re.search(r"<script[^>]+src=[\"']https?://", page)  # nothing loaded from a CDN


def test_contrastlab_diagnose_is_the_interactive_one_and_the_core_has_no_plotly():
    assert contrastlab.diagnose is diagnose
    assert isinstance(diagnose(embeddings("spread", n=20, d=4)), Diagnosis)
    assert not hasattr(G.Geometry, "figure")


def test_nearest_neighbours():
    z = torch.tensor([[1.0, 0], [0.9, 0.1], [0, 1], [-1, 0]])
    (first, last) = G.nearest_neighbours(z, [0, 3], k=2)
    assert [row for row, _ in first] == [1, 2] and first[0][1] == pytest.approx(0.9 / math.hypot(0.9, 0.1))
    assert [row for row, _ in last] == [2, 1]
    assert G.nearest_neighbours(z, [0], k=2, chunk_size=1) == [first]


def test_the_uniform_sphere_reference_in_high_dimensions():
    for d in (3, 64, 256):  # where the Bessel formula works, the quadrature agrees with it
        assert G.uniform_sphere_reference(d) == pytest.approx(M.uniform_sphere_uniformity(d), abs=1e-6)
    value = G.uniform_sphere_reference(768)  # the Bessel function underflows here
    assert -4 < value < M.uniform_sphere_uniformity(256)  # falling towards -2t = -4 as d grows


def test_the_diagnosis_app_loads_files_and_names_the_bad_ones(tmp_path):
    from contrastlab.interactive.widgets import DiagnosisApp

    z = embeddings("anisotropic", n=200, d=16)
    np.savez(tmp_path / "e.npz", emb=z.numpy(), y=np.arange(200) % 4)
    app = DiagnosisApp()
    app.load(str(tmp_path / "e.npz"), key="emb", labels=str(tmp_path / "e.npz"), labels_key="y",
             texts=[f"row {i}" for i in range(200)])
    assert "anisotropic: mean cosine" in app.findings.value and "200 rows x 16 dims" in app.status.value
    assert app.explorer.figure.layout.title.text == "PCA of 200 embeddings"
    assert app.explorer.sample_html(3).endswith("<p>row 3</p>")
    assert app.figure_box.children[0].layout.title.text.startswith("Diagnosis of 200 x 16: anisotropic")
    app.load(str(tmp_path / "none.npy"))
    assert "none.npy: no such file" in app.status.value and app.diagnosis is not None  # the last one stays
