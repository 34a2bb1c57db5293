"""Your own data: from_arrays, the "arrays" registry entry, load_array, fit and a sweep over .npy files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contrastlab import data as D
from contrastlab import fit, sweeps
from contrastlab.data.user import ArrayFileError, integer_labels, load_array


def clusters(n: int = 400, dim: int = 12, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    centres = rng.standard_normal((k, dim)) * 3
    return (centres[labels] + rng.standard_normal((n, dim))).astype(np.float32), labels


def test_from_arrays_takes_arrays_and_tensors_and_draws_seeded_views():
    x, y = clusters()
    toy = D.from_arrays(x, y, view_noise=0.2)
    assert isinstance(toy, D.ToyData) and toy.name == "arrays" and len(toy) == 400
    assert toy.x.dtype == torch.float32 and toy.labels.dtype == torch.long
    a = toy.views(torch.arange(10), generator=toy.generator(1))
    b = toy.views(torch.arange(10), generator=toy.generator(1))
    assert a.shape == (10, 2, 12) and torch.equal(a, b)
    assert (a[:, 0] - toy.x[:10]).std() == pytest.approx(0.2, rel=0.2)  # the noise's strength
    same = D.from_arrays(torch.from_numpy(x), torch.from_numpy(y), views="none")
    assert torch.equal(same.views(torch.arange(5))[:, 0], same.x[:5])
    assert D.from_arrays(x).labels.eq(0).all()  # no labels: one class


def test_a_views_function_of_your_own():
    x, y = clusters()

    def flip_sign(batch, generator):
        signs = torch.randint(0, 2, (len(batch), 1), generator=generator) * 2 - 1
        return batch * signs

    toy = D.from_arrays(x, y, views=flip_sign)
    views = toy.views(torch.arange(20), generator=toy.generator(0))
    assert torch.equal(views.abs(), toy.x[:20, None].abs().expand(-1, 2, -1))
    bad = D.from_arrays(x, y, views=lambda batch, g: batch[:, :3])
    with pytest.raises(ValueError, match="views must return a tensor of the batch's shape"):
        bad.views(torch.arange(4))


def test_bad_arguments_are_refused_by_name():
    x, y = clusters(n=20)
    with pytest.raises(TypeError, match="x must be a torch.Tensor or a numpy.ndarray"):
        D.from_arrays(x.tolist())
    with pytest.raises(TypeError, match="x must hold floats"):
        D.from_arrays(y[:, None])
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"x must be finite, got NaN or inf in 1 row\(s\): \[3\]"):
        D.from_arrays(bad)
    with pytest.raises(ValueError, match=r"labels must have shape \(20,\)"):
        D.from_arrays(x, y[:5])
    with pytest.raises(ValueError, match="views must be"):
        D.from_arrays(x, views="blur")
    with pytest.raises(ValueError, match="view_noise must be a finite number"):
        D.from_arrays(x, view_noise=-1.0)


def test_fit_trains_on_your_data():
    x, y = clusters()
    history = fit(D.from_arrays(x, y, view_noise=0.3), "simclr", steps=40, batch_size=64, eval_every=20,
                  eval_size=200, progress=False)
    frame = history.frame
    assert frame["step"].tolist() == [0, 20, 40] and frame["knn"].iloc[-1] > 0.5
    assert history.config["data"] == "arrays" and history.config["data.view_noise"] == 0.3


def test_arrays_is_registered_and_reads_files(tmp_path):
    x, y = clusters()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    assert D.DATASETS["arrays"] is D.arrays and D.reads_files("arrays") and not D.reads_files("vmf_mixture")
    assert not D.is_paired("arrays")
    toy = D.arrays(str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), view_noise=0.1)
    assert torch.equal(toy.x, torch.from_numpy(x)) and torch.equal(toy.labels, torch.from_numpy(y))
    with pytest.raises(ValueError, match="x must be the path of the inputs"):
        D.arrays()
    np.save(tmp_path / "short.npy", y[:10])
    with pytest.raises(ValueError, match="labels must have one label per row of x"):
        D.arrays(str(tmp_path / "x.npy"), str(tmp_path / "short.npy"))


def test_a_sweep_over_npy_files(tmp_path, monkeypatch):
    x, y = clusters()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    monkeypatch.chdir(tmp_path)  # paths in a config are read from the folder the sweep starts in
    config = {"name": "mine", "data": {"name": "arrays", "x": "x.npy", "labels": "y.npy", "view_noise": [0.1, 0.3]},
              "loss": {"name": "simclr"}, "train": {"steps": 4, "batch_size": 32, "eval_every": 0, "eval_size": 64},
              "metrics": ["alignment", "knn"], "seeds": 1}
    (run, _) = sweeps.expand(config)
    assert run["config"]["data"]["x"] == str(tmp_path / "x.npy")  # absolute: the workers read the same file
    frame = sweeps.sweep(config, out=tmp_path / "runs", workers=1, progress=False, report=False)
    assert sorted(frame["data.view_noise"].tolist()) == [0.1, 0.3] and frame["knn"].notna().all()
    problems = sweeps.validate({**config, "data": {"name": "arrays", "x": "missing.npy"}})
    assert len(problems) == 1 and "missing.npy: no such file" in problems[0]


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".pt", ".csv", ".tsv", ".parquet"])
def test_load_array_round_trips_each_format(tmp_path, suffix):
    x, y = clusters(n=30, dim=5)
    path = tmp_path / f"emb{suffix}"
    key = None
    if suffix == ".npy":
        np.save(path, x)
    elif suffix == ".npz":
        np.savez(path, emb=x, y=y)
        key = "emb"
    elif suffix == ".pt":
        torch.save({"emb": torch.from_numpy(x), "y": torch.from_numpy(y)}, path)
        key = "emb"
    else:
        pd = pytest.importorskip("pandas")
        if suffix == ".parquet":
            pytest.importorskip("pyarrow")
        frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(5)])
        if suffix == ".parquet":
            frame.to_parquet(path)
        else:
            frame.to_csv(path, sep="\t" if suffix == ".tsv" else ",", index=False)
    np.testing.assert_allclose(load_array(path, key), x, rtol=1e-6)
    if suffix == ".parquet":  # a column of vectors, picked by its name
        pd.DataFrame({"emb": list(x), "y": y}).to_parquet(path)
        np.testing.assert_allclose(load_array(path, "emb"), x, rtol=1e-6)
        assert load_array(path, "y").tolist() == y.tolist()


def test_load_array_says_what_is_wrong_in_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_array(tmp_path / "none.npy")
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(ArrayFileError, match=r"bad.npy: cannot read it as .npy"):
        load_array(tmp_path / "bad.npy")
    np.savez(tmp_path / "two.npz", a=np.zeros(3), b=np.ones(3))
    with pytest.raises(ArrayFileError, match=r"holds 2 arrays \(a, b\); pick one"):
        load_array(tmp_path / "two.npz")
    with pytest.raises(ArrayFileError, match="has no 'c'; it holds a, b"):
        load_array(tmp_path / "two.npz", "c")
    (tmp_path / "x.txt").write_text("1 2 3")
    with pytest.raises(ArrayFileError, match="cannot read .txt"):
        load_array(tmp_path / "x.txt")
    with pytest.raises(ArrayFileError, match="labels must be integer class labels"):
        integer_labels(np.array([0.5, 1.0]), "y.csv")
    assert integer_labels(np.array([[1.0], [2.0]])).tolist() == [1, 2]
