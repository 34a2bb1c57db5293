"""Easy, hard and subclass features: the toy of feature suppression and class collapse (Xue et al. 2023)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .. import validation as check
from .base import ToyData, per_sample, random_unit_vectors, rng, tensor


@dataclass(kw_only=True)
class FeatureMix(ToyData):
    """x = R [easy; class; subclass] with a fixed random rotation R.

    ``parts`` (3, 2) gives the [start, stop) columns of the easy, class and subclass blocks before the
    rotation; ``subclass`` (N,) is the subclass of each sample; ``latents`` (N, 3) holds
    (class, subclass, easy-feature id).
    """

    subclass: Tensor = per_sample()
    clean: Tensor = per_sample()  # (N, D) the feature blocks before the rotation
    rotation: Tensor  # (D, D) orthogonal
    view_noise: float
    easy_view_noise: float
    easy_dims: int

    def _view(self, idx: Tensor, generator: torch.Generator) -> Tensor:
        clean = self.clean[idx]  # (B, D)
        scale = torch.full(clean.shape[1:], self.view_noise, device=clean.device, dtype=clean.dtype)  # (D,)
        scale[:self.easy_dims] = self.easy_view_noise
        noise = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
        return (clean + scale * noise) @ self.rotation


def feature_mix(n: int = 2000, *, n_classes: int = 2, n_subclasses: int = 2, easy_strength: float = 1.0,
                class_strength: float = 0.5, subclass_strength: float = 0.5, easy_dims: int = 8,
                class_dims: int = 4, subclass_dims: int = 4, n_easy_values: int | None = None,
                view_noise: float = 0.1, easy_view_noise: float = 0.0, seed: int = 0,
                device: torch.device | str = "cpu") -> FeatureMix:
    r"""Three kinds of feature with controllable strengths (Xue et al. 2023, "Which Features are Learnt
    by Contrastive Learning? On the Role of Simplicity Bias in Class Collapse and Feature Suppression").

    - **easy**: a random direction per sample (or one of ``n_easy_values`` shared directions), scaled by
      ``easy_strength``, identical in both views unless ``easy_view_noise`` > 0. It alone separates the
      instances, so SimCLR can minimise its loss without the class: the class feature is *suppressed*.
      Better views (larger ``easy_view_noise``) or a larger embedding remove the shortcut.
    - **class**: the direction of the sample's class, scaled by ``class_strength``: the hard,
      label-relevant feature.
    - **subclass**: the direction of the sample's subclass within its class, scaled by
      ``subclass_strength``. SupCon pulls a whole class together and can *collapse* the subclasses.

    A view adds ``view_noise``·ε to the class and subclass blocks (``easy_view_noise``·ε to the easy block),
    then a fixed random rotation mixes the blocks so no coordinate is a feature by itself.
    Returns: ``FeatureMix`` with x (n, easy_dims + class_dims + subclass_dims), labels = class,
    ``subclass``, latents (class, subclass, easy id).
    """
    n = check.integer("n", n, 2)
    n_classes = check.integer("n_classes", n_classes, 1)
    n_subclasses = check.integer("n_subclasses", n_subclasses, 1)
    dims = [check.integer(name, d, 1) for name, d in
            (("easy_dims", easy_dims), ("class_dims", class_dims), ("subclass_dims", subclass_dims))]
    strengths = [check.number(name, s, low=0.0) for name, s in (("easy_strength", easy_strength),
                                                                 ("class_strength", class_strength),
                                                                 ("subclass_strength", subclass_strength))]
    view_noise = check.number("view_noise", view_noise, low=0.0)
    easy_view_noise = check.number("easy_view_noise", easy_view_noise, low=0.0)
    n_easy_values = n if n_easy_values is None else check.integer("n_easy_values", n_easy_values, 1)
    seed = check.seed("seed", seed)
    g = rng(seed)
    labels = g.integers(0, n_classes, n)
    subclass = g.integers(0, n_subclasses, n)
    easy_id = g.integers(0, n_easy_values, n) if n_easy_values < n else np.arange(n)
    easy = random_unit_vectors(g, n_easy_values, dims[0])[easy_id]
    class_dirs = random_unit_vectors(g, n_classes, dims[1])[labels]
    sub_dirs = random_unit_vectors(g, n_classes * n_subclasses, dims[2])[labels * n_subclasses + subclass]
    clean = np.concatenate([strengths[0] * easy, strengths[1] * class_dirs, strengths[2] * sub_dirs], axis=1)
    rotation = np.linalg.qr(g.standard_normal((clean.shape[1], clean.shape[1])))[0]
    knobs = dict(n=n, n_classes=n_classes, n_subclasses=n_subclasses, easy_strength=strengths[0],
                 class_strength=strengths[1], subclass_strength=strengths[2], easy_dims=dims[0],
                 class_dims=dims[1], subclass_dims=dims[2], n_easy_values=n_easy_values,
                 view_noise=view_noise, easy_view_noise=easy_view_noise, seed=seed)
    clean_t, rotation_t = tensor(clean, device), tensor(rotation, device)
    return FeatureMix(x=clean_t @ rotation_t, labels=tensor(labels, device, torch.long),
                      latents=tensor(np.stack([labels, subclass, easy_id], 1), device),
                      subclass=tensor(subclass, device, torch.long), clean=clean_t, rotation=rotation_t,
                      view_noise=view_noise, easy_view_noise=easy_view_noise, easy_dims=dims[0], knobs=knobs)
