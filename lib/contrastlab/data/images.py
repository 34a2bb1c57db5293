"""Small RGB patches of real photographs, labelled by the region they come from, with SimCLR's views.

The pictures are the two sample photographs that ship inside scikit-learn (``sklearn/datasets/images``,
read with Pillow; nothing is downloaded), 640 x 427 pixels each:

- ``china.jpg``: the Tower of Buddhist Incense, Summer Palace, Beijing. Photo by danielbuechele
  (flickr.com/photos/danielbuechele/6061409035), CC BY 2.0 (creativecommons.org/licenses/by/2.0/).
- ``flower.jpg``: a dahlia. Photo by vultilion (flickr.com/photos/vultilion/6056698931), CC BY 2.0.

(Both as recorded in scikit-learn's ``datasets/images/README.txt``.) Each class is a region of one
photograph with its own colours and texture: sky, pagoda and trees of the first, petals and leaves of
the second.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .. import augment
from .. import validation as check
from .base import ToyData, class_counts, rng, tensor

#: class name -> (photograph, (top, bottom, left, right) in pixels of the 427 x 640 photograph).
REGIONS = {
    "sky": ("china.jpg", (0, 180, 380, 640)),
    "pagoda": ("china.jpg", (90, 340, 100, 300)),
    "petals": ("flower.jpg", (110, 330, 200, 420)),
    "leaves": ("flower.jpg", (0, 400, 0, 160)),
    "trees": ("china.jpg", (290, 427, 400, 640)),
}
#: The largest patch every region holds.
MAX_PATCH = min(min(b - t, r - l) for _, (t, b, l, r) in REGIONS.values())


@lru_cache(maxsize=None)
def photograph(name: str) -> np.ndarray:
    """(427, 640, 3) float64 in [0, 1]: one of scikit-learn's sample photographs, decoded by Pillow."""
    import sklearn
    from PIL import Image

    path = Path(sklearn.__file__).parent / "datasets" / "images" / check.choice("name", name, ("china.jpg", "flower.jpg"))
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    pixels.setflags(write=False)
    return pixels


@dataclass(kw_only=True)
class ImagePatches(ToyData):
    """x (N, 3, P, P) in [0, 1]; a view applies ``augment.recipe(ops, strength=strength)``."""

    strength: float
    ops: tuple[str, ...]

    def _view(self, idx: Tensor, generator: torch.Generator) -> Tensor:
        return augment.recipe(self.ops, strength=self.strength)(self.x[idx], generator=generator)


def image_patches(*, n_classes: int = 5, patches_per_class: int = 40, patch_size: int = 32, n: int | None = None,
                  strength: float = 1.0, ops: tuple[str, ...] = augment.OPS, seed: int = 0,
                  device: torch.device | str = "cpu") -> ImagePatches:
    """Square RGB patches cut at seeded random positions inside regions of two real photographs.

    Class c is the region ``list(REGIONS)[c]`` (sky, pagoda, petals, leaves, trees; ``n_classes`` in
    1..5 keeps the first ones). ``patches_per_class`` patches of ``patch_size`` pixels (8..137, the
    smallest region's side) per class, or ``n`` patches in all, spread as evenly as the classes allow.
    Positions are drawn with NumPy on the CPU, so a seed gives the same patches on every device.
    Views: ``augment.recipe(ops, strength=strength)``; the default is SimCLR's full recipe at strength 1.
    Licences: see the module docstring (both photographs CC BY 2.0, shipped inside scikit-learn).
    Returns: ``ImagePatches`` with x (N, 3, patch_size, patch_size) in [0, 1], labels (N,) in
    0..n_classes-1, latents (N, 2): each patch's top-left corner as a share of its photograph's height/width.
    """
    n_classes = check.integer("n_classes", n_classes, 1, len(REGIONS))
    patches_per_class = check.integer("patches_per_class", patches_per_class, 1)
    patch_size = check.integer("patch_size", patch_size, 8, MAX_PATCH)
    n = None if n is None else check.integer("n", n, n_classes)
    strength = check.probability("strength", strength)
    ops = augment.op_names(ops)
    seed = check.seed("seed", seed)
    counts = class_counts(n, n_classes, 1.0) if n is not None else np.full(n_classes, patches_per_class)
    generator = rng(seed)
    patches, labels, corners = [], [], []
    for c, (photo, (top, bottom, left, right)) in enumerate(list(REGIONS.values())[:n_classes]):
        image = photograph(photo)  # (427, 640, 3)
        rows = generator.integers(top, bottom - patch_size + 1, size=counts[c])  # (n_c,)
        cols = generator.integers(left, right - patch_size + 1, size=counts[c])
        for r, q in zip(rows, cols):
            patches.append(image[r:r + patch_size, q:q + patch_size].transpose(2, 0, 1))  # (3, P, P)
        labels.append(np.full(counts[c], c))
        corners.append(np.stack([rows / image.shape[0], cols / image.shape[1]], 1))  # (n_c, 2)
    return ImagePatches(x=tensor(np.stack(patches), device), labels=tensor(np.concatenate(labels), device, torch.long),
                        latents=tensor(np.concatenate(corners), device), strength=strength, ops=ops,
                        knobs=dict(n_classes=n_classes, patches_per_class=patches_per_class, patch_size=patch_size,
                                   n=n, strength=strength, ops=ops, seed=seed))
