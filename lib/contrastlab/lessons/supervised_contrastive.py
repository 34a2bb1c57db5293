r"""Class-mean geometry for supervised (contrastive) training, and the pieces notebook 11 needs around it.

With labels, the interesting object is the set of **class means** of the embeddings. SupCon's
minimisers with balanced classes put the class means at the vertices of a regular simplex on the
sphere: equal norms and every pairwise cosine equal to :math:`-1/(K-1)` (Graf et al. 2021).
Cross-entropy does the same with centred features ("neural collapse", Papyan et al. 2020), and under
class imbalance its minority classes move together ("minority collapse", Fang et al. 2021).

- ``class_mean_geometry``: class means, their norms, pairwise cosines and angles; block averages
  (majority-majority, minority-minority, ...) and the distance from the regular simplex.
- ``simplex_cosine``: :math:`-1/(K-1)`, the pairwise cosine of K equiangular unit vectors summing to 0.
- ``imbalanced_indices``: a seeded "step" imbalance: minority classes keep 1/ratio of their samples.
- ``positives_per_anchor``: :math:`|P(i)|` of every anchor of a SupCon batch, and
  ``expected_positives``: its mean over random batches in closed form.
- ``CrossEntropy``: a cross-entropy set-up on the same encoder as the contrastive ones (a linear
  classifier on the projection), usable with ``train.fit``; ``mlp_encoder``: a seeded small MLP
  encoder for any input shape (flattened), cheap enough for CPU notebooks.
- ``unconstrained_features``: the unconstrained-features model: free vectors (one per sample)
  optimised directly with SupCon or with cross-entropy + weight decay, i.e. what the loss alone wants.
- ``augmented_scores``: linear-probe and kNN accuracy of frozen features on *augmented* digits (one
  seeded random view of each training and held-out digit), the test on which raw pixels fail.

Dependencies point one way: torch, ``losses``, ``metrics``, ``models``, ``methods`` and ``data``'s
digit augmentations; nothing of plotting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import losses as L
from .. import metrics as M
from .. import validation as check
from ..data.digits import augment_digits
from ..methods import CrossEntropy, loss_default, output_dim  # noqa: F401 (CrossEntropy lives in methods: "ce")
from ..models import Encoder, mlp, projection_head

__all__ = ["ClassMeanGeometry", "class_mean_geometry", "simplex_cosine", "imbalanced_indices",
           "positives_per_anchor", "expected_positives", "CrossEntropy", "mlp_encoder", "FreeFeatures",
           "unconstrained_features", "augmented_scores", "TEST_SEED_OFFSET"]


def simplex_cosine(k: int) -> float:
    r"""The pairwise cosine of the regular simplex with k vertices centred at the origin: :math:`-1/(k-1)`.

    K unit vectors with equal pairwise cosines c sum to a vector of squared norm K + K(K-1)c >= 0, so
    c >= -1/(K-1), with equality exactly when they sum to zero (Graf et al. 2021; Papyan et al. 2020).
    """
    k = check.integer("k", k, 2)
    return -1.0 / (k - 1)


# ----------------------------------------------------------------------------------------------
# class-mean geometry

@dataclass(frozen=True)
class ClassMeanGeometry:
    """Result of ``class_mean_geometry``.

    Attributes:
        classes: (K,) the labels, sorted.  counts: (K,) samples per class.
        means: (K, D) class means (of unit rows if ``normalize``; centred if ``center``).
        norms: (K,) their Euclidean norms; 1 means the class collapsed to a point (unit rows).
        cosines: (K, K) cosine similarities between the class means.
    """

    classes: Tensor
    counts: Tensor
    means: Tensor
    norms: Tensor
    cosines: Tensor

    @property
    def k(self) -> int:
        return len(self.classes)

    @property
    def angles(self) -> Tensor:
        """(K, K) angles between the class means in degrees."""
        return torch.rad2deg(torch.arccos(self.cosines.clamp(-1, 1)))

    def _positions(self, name: str, labels: object) -> Tensor:
        if labels is None:
            return torch.arange(self.k)
        wanted = torch.as_tensor(labels).reshape(-1).to(self.classes.device)
        where = (self.classes[None, :] == wanted[:, None])  # (M, K)
        missing = wanted[~where.any(1)]
        if len(missing):
            raise ValueError(f"{name} must be labels present in the geometry {self.classes.tolist()}, "
                             f"got unknown {missing.tolist()}")
        return where.int().argmax(1).cpu()

    def mean_cosine(self, rows: object = None, cols: object = None) -> float:
        """Mean cosine between the means of the classes ``rows`` and ``cols`` (labels; None = all),
        leaving out each class's cosine with itself."""
        r, c = self._positions("rows", rows), self._positions("cols", cols)
        block = self.cosines.cpu()[r][:, c]  # (|rows|, |cols|)
        off = r[:, None] != c[None, :]  # (|rows|, |cols|) not the same class
        if not bool(off.any()):
            raise ValueError("rows and cols must leave at least one pair of different classes")
        return float(block[off].mean())

    def simplex_gap(self) -> float:
        r"""Root-mean-square distance of the off-diagonal cosines from :math:`-1/(K-1)`: 0 for a regular
        simplex (whatever the norms), about 0.1 for K = 10 random directions."""
        off = ~torch.eye(self.k, dtype=torch.bool)
        return float((self.cosines.cpu()[off] - simplex_cosine(self.k)).pow(2).mean().sqrt())


@torch.no_grad()
def class_mean_geometry(z: Tensor, labels: Tensor, *, normalize: bool = True,
                        center: bool = False) -> ClassMeanGeometry:
    r"""Class means of the embeddings and their pairwise cosines.

    .. math:: \mu_c = \frac{1}{n_c}\sum_{i: y_i = c} \hat z_i,\qquad
              \cos_{cc'} = \frac{(\mu_c - g)^\top(\mu_{c'} - g)}{\lVert\mu_c - g\rVert\,\lVert\mu_{c'} - g\rVert}

    with :math:`\hat z_i = z_i/\lVert z_i\rVert` when ``normalize`` (the sphere SupCon works on) and
    :math:`g = \frac1K\sum_c \mu_c` when ``center`` (the neural-collapse convention for unnormalised
    cross-entropy features), else :math:`g = 0`. The centre is the mean of the class means, not of the
    samples, so that class sizes do not move it.

    Args:
        z: (N, D) embeddings.  labels: (N,) integer labels, at least 2 classes.
        normalize: scale each row to unit length before averaging.
        center: subtract the mean of the class means.
    Returns: ``ClassMeanGeometry`` in float64 on the CPU. Cost: O(N D + K^2 D).
    """
    check.embeddings("z", z)
    labels = check.labels("labels", labels, len(z), z.device)
    normalize, center = check.boolean("normalize", normalize), check.boolean("center", center)
    x = z.detach().double()
    if normalize:
        x = F.normalize(x, dim=1)
    classes, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"labels must contain at least 2 classes, got only {classes.tolist()}")
    sums = torch.zeros(len(classes), x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, inverse, x)
    means = sums / counts[:, None]  # (K, D)
    if center:
        means = means - means.mean(0)
    norms = means.norm(dim=1)  # (K,)
    unit = means / norms.clamp_min(1e-12)[:, None]
    cosines = (unit @ unit.T).clamp(-1, 1).fill_diagonal_(1.0)  # (K, K), exactly 1 with itself
    return ClassMeanGeometry(classes=classes.cpu(), counts=counts.cpu(), means=means.cpu(), norms=norms.cpu(),
                             cosines=cosines.cpu())


# ----------------------------------------------------------------------------------------------
# imbalance and positives

def imbalanced_indices(labels: Tensor, ratio: float, *, minority: object, min_count: int = 2,
                       seed: int = 0) -> Tensor:
    r"""Indices of a "step"-imbalanced subset: every sample of the majority classes, and a seeded
    random :math:`\max(\text{min\_count}, \operatorname{round}(n_c/\text{ratio}))` of each minority class.

    Fang et al. (2021) use this step imbalance (half the classes minority) for minority collapse.

    Args:
        labels: (N,) integer labels.
        ratio: >= 1, majority / minority size (1 keeps everything).
        minority: the labels of the minority classes (a list or tensor of labels present in ``labels``).
        min_count: at least this many samples kept per minority class (>= 1; SupCon needs 2 per class
            for a positive without a second view).
        seed: int for the choice of the kept samples.
    Returns: (M,) long indices into ``labels``, sorted, on ``labels``' device.
    """
    check.tensor("labels", labels, ndim=1, dtype="integer", dims="(N,)")
    ratio = check.number("ratio", ratio, low=1.0)
    min_count = check.integer("min_count", min_count, 1)
    seed = check.seed("seed", seed)
    minority = torch.as_tensor(minority).reshape(-1).cpu()
    y = labels.cpu()
    present = torch.unique(y)
    unknown = [int(c) for c in minority if not bool((present == c).any())]
    if unknown:
        raise ValueError(f"minority must list labels present in labels {present.tolist()}, got unknown {unknown}")
    rng = np.random.default_rng(seed)
    keep = []
    for c in present.tolist():
        members = torch.nonzero(y == c).flatten().numpy()
        if bool((minority == c).any()):
            n_keep = min(len(members), max(min_count, round(len(members) / ratio)))
            members = rng.choice(members, n_keep, replace=False)
        keep.append(members)
    return torch.as_tensor(np.sort(np.concatenate(keep)), dtype=torch.long, device=labels.device)


def positives_per_anchor(labels: Tensor, *, n_views: int = 2) -> Tensor:
    r""":math:`|P(i)|` for every anchor of a SupCon batch of the (B,) ``labels`` seen ``n_views`` times:
    the other embeddings with the anchor's label, :math:`V n_c - 1` for an anchor of class c.

    Returns: (V B,) long, in the view-major order of ``losses.supcon`` (row v B + i).
    """
    check.tensor("labels", labels, ndim=1, dtype="integer", dims="(B,)")
    if len(labels) == 0:
        raise ValueError("labels must be a non-empty 1-d integer tensor (B,), got shape (0,)")
    n_views = check.integer("n_views", n_views, 1)
    _, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    return (n_views * counts[inverse] - 1).repeat(n_views)


def expected_positives(batch_size: int, class_sizes: object, *, n_views: int = 2) -> tuple[float, float]:
    r"""Mean :math:`|P(i)|` of an anchor in a batch drawn uniformly without replacement, and the share of
    anchors whose only positives are their own other views (no other sample of their class).

    .. math:: \mathbb E|P(i)| = (V-1) + V (B-1) \sum_c \frac{n_c}{N}\frac{n_c - 1}{N - 1},\qquad
              \Pr[\text{no other}] = \sum_c \frac{n_c}{N}\binom{N - n_c}{B - 1}\Big/\binom{N-1}{B-1}

    Args:
        batch_size: B, 1 <= B <= N.  class_sizes: (K,) samples per class in the dataset (n_c, sum N).
        n_views: V >= 1.
    """
    sizes = np.asarray(torch.as_tensor(class_sizes).cpu(), dtype=np.int64).reshape(-1)
    if len(sizes) == 0 or (sizes < 1).any():
        raise ValueError(f"class_sizes must be a non-empty list of counts >= 1, got {sizes.tolist()}")
    n = int(sizes.sum())
    b = check.integer("batch_size", batch_size, 1)
    if b > n:
        raise ValueError(f"batch_size must be <= the {n} samples of class_sizes, got {b}")
    v = check.integer("n_views", n_views, 1)
    same = float((sizes * (sizes - 1)).sum()) / (n * (n - 1)) if n > 1 else 0.0
    mean = (v - 1) + v * (b - 1) * same

    def log_choose(a: int, k: int) -> float:
        return math.lgamma(a + 1) - math.lgamma(k + 1) - math.lgamma(a - k + 1)

    # an anchor of class c has no other sample of c when the other B - 1 all come from the N - n_c others
    none = sum(c / n * math.exp(log_choose(n - c, b - 1) - log_choose(n - 1, b - 1))
               for c in sizes.tolist() if n - c >= b - 1)
    return mean, none


# ----------------------------------------------------------------------------------------------
# a small encoder (the cross-entropy set-up is methods.CrossEntropy, "ce")

def mlp_encoder(input_shape: tuple[int, ...], *, feature_dim: int = 64, out_dim: int = 32, hidden: int = 128,
                seed: int = 0) -> Encoder:
    """A seeded ``Encoder``: a 3-layer MLP backbone on the flattened input, then SimCLR's projection head.

    The package's ``build_encoder`` uses a ``SmallCNN`` for (1, 8, 8) digits; this MLP is several
    times cheaper per step on a CPU, which is what a notebook running a dozen trainings needs.
    """
    shape = check.shape("input_shape", input_shape)  # without the batch axis
    feature_dim, out_dim = check.integer("feature_dim", feature_dim, 1), check.integer("out_dim", out_dim, 1)
    hidden, seed = check.integer("hidden", hidden, 1), check.seed("seed", seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone = nn.Sequential(nn.Flatten(), mlp(int(np.prod(shape)), hidden, feature_dim, n_layers=3))
        return Encoder(backbone, projection_head(feature_dim, hidden, out_dim))


# ----------------------------------------------------------------------------------------------
# the unconstrained-features model

@dataclass(frozen=True)
class FreeFeatures:
    """Result of ``unconstrained_features``: features (N, D), labels (N,) sorted, the classifier
    (K, D) for cross-entropy (None for SupCon) and the final loss value."""

    features: Tensor
    labels: Tensor
    classifier: Tensor | None
    loss: float


def unconstrained_features(counts: object, *, loss: str = "supcon", dim: int = 16,
                           temperature: float = loss_default(L.supcon, "temperature"),
                           steps: int = 200, lr: float = 0.1, weight_decay: float = 5e-2,
                           seed: int = 0) -> FreeFeatures:
    r"""Free vectors, one per sample, optimised with a supervised loss: the geometry the loss alone wants.

    ``loss="supcon"``: full-batch ``losses.supcon`` with one view (the rows are normalised inside the
    loss; every class needs >= 2 samples). ``loss="ce"``: the layer-peeled model of Fang et al. (2021),
    cross-entropy of a free linear classifier W on free features H with weight decay
    :math:`\frac{\lambda}{2}(\frac1N\lVert H\rVert^2 + \lVert W\rVert^2)`. Adam, full batch.

    Args:
        counts: (K,) samples per class.  dim: D >= 1.  temperature: SupCon's tau.
        steps, lr: Adam.  weight_decay: lambda (cross-entropy only).  seed: the initialisation.
    Returns: ``FreeFeatures`` on the CPU, labels sorted (class 0 first).
    References: Graf et al. 2021 (SupCon, balanced: regular simplex); Fang et al. 2021 (layer-peeled
        model, minority collapse); Mixon et al. 2020 (unconstrained features).
    """
    sizes = torch.as_tensor(counts).reshape(-1).long()
    if len(sizes) < 2 or bool((sizes < 1).any()):
        raise ValueError(f"counts must list at least 2 class sizes, each >= 1, got {sizes.tolist()}")
    loss = check.choice("loss", loss, ("supcon", "ce"))
    if loss == "supcon" and bool((sizes < 2).any()):
        raise ValueError(f"counts must be >= 2 for loss='supcon' (a class of one sample has no positive), "
                         f"got {sizes.tolist()}")
    dim, steps, seed = check.integer("dim", dim, 1), check.integer("steps", steps, 1), check.seed("seed", seed)
    temperature = float(check.positive_number("temperature", temperature))
    lr = float(check.positive_number("lr", lr))
    weight_decay = check.number("weight_decay", weight_decay, low=0.0)
    labels = torch.repeat_interleave(torch.arange(len(sizes)), sizes)  # (N,)
    g = torch.Generator().manual_seed(seed)
    h = (0.1 * torch.randn(len(labels), dim, generator=g)).requires_grad_()  # (N, D)
    params, w = [h], None
    if loss == "ce":
        w = (0.1 * torch.randn(len(sizes), dim, generator=g)).requires_grad_()  # (K, D)
        params.append(w)
    optimizer = torch.optim.Adam(params, lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            if loss == "supcon":
                value = L.supcon(h[:, None], labels, temperature=temperature)
            else:
                value = (F.cross_entropy(h @ w.T, labels)
                         + weight_decay / 2 * (h.pow(2).sum(1).mean() + w.pow(2).sum()))
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
    return FreeFeatures(features=h.detach(), labels=labels, classifier=w.detach() if loss == "ce" else None,
                        loss=float(value.detach()))


# ----------------------------------------------------------------------------------------------
# scoring on augmented digits

#: The held-out digits' views are drawn with ``seed + TEST_SEED_OFFSET``, the training digits' with ``seed``.
TEST_SEED_OFFSET = 10_000


@torch.no_grad()
def augmented_scores(features, train, test, *, strength: float = 0.5, seed: int = 0,
                     k: int = 20) -> tuple[float, float]:
    r"""(linear probe, kNN) accuracy of frozen features on one augmented view of every digit.

    Each training digit :math:`x_i` and held-out digit :math:`x'_j` is seen once through
    ``data.augment_digits`` at ``strength`` (shifts, zoom, rotation, blur, cutout, noise), drawn from a
    generator seeded with ``seed`` (training digits) and ``seed + TEST_SEED_OFFSET`` (held-out digits).
    The probe (``metrics.linear_probe_accuracy``) and the kNN classifier (``metrics.knn_accuracy``,
    cosine, ``k`` neighbours) are fitted on :math:`f(\tilde x_i)` and tested on :math:`f(\tilde x'_j)`.
    With ``features = lambda x: x.flatten(1)`` this scores the raw pixels; at ``strength=0`` it is the
    clean-digit score.

    Args:
        features: a function from (B, 1, 8, 8) images to (B, D) features (e.g. ``method.features``).
        train, test: ``data.Digits`` (x (N, 1, 8, 8), labels (N,)).
        strength: in [0, 1], the augmentations' strength.  seed: int >= 0.  k: neighbours, >= 1.
    Returns: (probe accuracy, kNN accuracy), floats in [0, 1].
    """
    if not callable(features):
        raise TypeError(f"features must be a function from (B, 1, 8, 8) images to (B, D) features, "
                        f"got {type(features).__name__}")
    for name, d in (("train", train), ("test", test)):
        if not (hasattr(d, "x") and hasattr(d, "labels")):
            raise TypeError(f"{name} must be digits data with .x (N, 1, 8, 8) and .labels (N,), "
                            f"got {type(d).__name__}")
    strength = check.probability("strength", strength)
    seed, k = check.seed("seed", seed), check.integer("k", k, 1)
    views = []
    for d, s in ((train, seed), (test, seed + TEST_SEED_OFFSET)):
        g = torch.Generator(device=d.x.device).manual_seed(s)
        views.append(features(augment_digits(d.x, strength=strength, generator=g)))  # (N, D)
    f_train, f_test = views
    return (M.linear_probe_accuracy(f_train, train.labels, f_test, test.labels),
            M.knn_accuracy(f_train, train.labels, f_test, test.labels, k=k))
