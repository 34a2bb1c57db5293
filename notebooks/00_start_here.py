# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python (contrastlab)
#     language: python
#     name: contrastlab
# ---

# %% [markdown]
# # 00 · Start here: contrastlab in ten minutes
#
# Contrastive learning trains an encoder by asking it a multiple-choice question: *which of these
# embeddings is the other view of my input?* This notebook introduces the package's four core
# functions and, above all, how to tell whether a loss value is good, bad, or just chance.
#
# **Learning goals.** You will be able to
#
# - call `contrastlab.losses.info_nce`, `nt_xent`, `alignment` and `uniformity` on two views of a batch;
# - read a loss number: compare it with its chance level, $\log N$ for in-batch InfoNCE and
#   $\log(2N-1)$ for NT-Xent, and tell a collapsed or untrained batch from one that has learned something;
# - write in-batch InfoNCE yourself as a cross-entropy over a similarity matrix and check it against the package.
#
# **Prerequisites.** PyTorch tensors (matrix products, `F.normalize`), softmax and cross-entropy.
# No prior contrastive learning needed.
#
# **Expected run time.** Under 30 seconds on a laptop CPU, most of it importing PyTorch; no downloads.

# %% [markdown]
# ## Setup
#
# One import of the package, then `setup()` from `contrastlab.lessons`, which does the set-up in one
# call: it seeds torch, picks the device (CUDA or Apple MPS when present, else CPU), runs torch on one
# thread on a CPU (the models are tiny, and threads that compete for the cores slow them down:
# `contrastlab.runtime` has the measurement) and reads fast mode, which CI turns on with
# `CONTRASTLAB_FAST=1` to shrink the sizes; the lessons are the same.

# %%
import math
import platform
from importlib import metadata

import torch
import torch.nn.functional as F

import contrastlab.losses  # also binds `contrastlab`
from contrastlab.lessons import setup

lesson = setup(seed=0)  # torch.manual_seed(0), the device, the thread policy, fast mode; prints one line
device, FAST = lesson.device, lesson.fast

# %% [markdown]
# ### Environment check
#
# If a line says `not installed`, or this cell fails, run `make lab` from the repository root: it
# creates the environment and registers the `Python (contrastlab)` kernel this notebook uses.

# %%
def installed_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


print(f"{'python':<13} {platform.python_version()}")
for distribution in ("torch", "numpy", "plotly", "ipywidgets", "transformers", "umap-learn"):
    print(f"{distribution:<13} {installed_version(distribution)}")
print(f"{'contrastlab':<13} {contrastlab.__version__}")
gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
print(f"{'device':<13} {device}{gpu}")
print(f"{'fast mode':<13} {FAST}")

# %% [markdown]
# ## The package in 10 lines
#
# A batch of $N$ inputs is seen twice, through two random augmentations; an encoder maps the views to
# embeddings $z_1, z_2 \in \mathbb{R}^{N \times D}$. Row $i$ of $z_1$ and row $i$ of $z_2$ are a
# **positive pair**; every other row is a **negative**. With cosine similarities
# $s_{ij} = \hat z_{1,i}^\top \hat z_{2,j}$ (hats: rows scaled to unit length) and a temperature $\tau$,
# in-batch InfoNCE is a cross-entropy in which query $i$ must pick its positive among $N$ candidates:
#
# $$\ell_i = -\log \frac{e^{s_{ii}/\tau}}{\sum_{j=1}^{N} e^{s_{ij}/\tau}}, \qquad \mathcal{L} = \frac{1}{N}\sum_i \ell_i .$$
#
# NT-Xent (SimCLR) pools both views, $2N$ embeddings, and lets each one pick its partner among the
# $2N-1$ others. Alignment and uniformity (Wang & Isola) split "good embeddings" in two: positives
# close together, and all embeddings spread evenly over the unit sphere.
#
# Here the "encoder" is faked: view 2 is view 1 plus a little noise, so the positives are easy to find.

# %%
N, D = (64 if FAST else 256), 128
z1 = torch.randn(N, D, device=device)  # (N, D) view 1: random embeddings
z2 = z1 + 0.1 * torch.randn(N, D, device=device)  # (N, D) view 2: view 1 plus a little noise

print(f"info_nce   {contrastlab.losses.info_nce(z1, z2, temperature=0.1).item():8.4f}")
print(f"nt_xent    {contrastlab.losses.nt_xent(z1, z2, temperature=0.5).item():8.4f}")
print(f"alignment  {contrastlab.losses.alignment(z1, z2).item():8.4f}")  # 0 when each pair coincides
print(f"uniformity {contrastlab.losses.uniformity(z1).item():8.4f}")  # lower: more evenly spread
print(f"log N = {math.log(N):.4f}, log(2N-1) = {math.log(2 * N - 1):.4f}  (N = {N})")

# %% [markdown]
# The positives are almost identical, yet the two losses look very different: InfoNCE at $\tau = 0.1$
# is close to 0, while NT-Xent at $\tau = 0.5$ stays well above 0 (compare both with the last line).
# Alignment is small because the views nearly coincide; uniformity is low because random directions
# in 128 dimensions are spread out. Neither loss number means much on its own: the next section gives
# them a scale.

# %% [markdown]
# ## How to read a loss number
#
# Both losses are cross-entropies over candidates, so they have a **chance level**: the loss of a
# model that gives the positive no edge over the negatives, so that the softmax is uniform.
#
# | loss | candidates per anchor | chance level |
# |---|---|---|
# | in-batch InfoNCE (one direction) | $N$ | $\log N$ |
# | NT-Xent | $2N-1$ (all embeddings but itself) | $\log(2N-1)$ |
#
# Two batches sit at chance:
#
# - **collapsed**: all $2N$ embeddings identical (the failure contrastive learning exists to prevent).
#   Every similarity is 1, every logit $1/\tau$, the softmax is exactly uniform: the loss is
#   **exactly** $\log(2N-1)$, whatever the temperature;
# - **random**: two independent random views. In $D = 512$ dimensions random unit vectors are nearly
#   orthogonal ($s_{ij} \approx 0 \pm 1/\sqrt{D}$), so the logits are nearly all equal and the loss is
#   **almost** $\log(2N-1)$.
#
# The cell below computes both for three batch sizes, and checks the collapsed case to $10^{-5}$ at
# three temperatures.

# %%
D = 512
temperatures = (0.05, 0.5, 1.0)  # a collapsed batch does not care
repeats = 2 if FAST else 10  # random batches averaged per N

print("NT-Xent at tau = 0.5, InfoNCE at tau = 0.1")
print(f"{'N':>4} {'log(2N-1)':>10} {'collapsed':>10} {'random':>10}   {'log N':>7} {'InfoNCE collapsed':>18}")
gaps = []  # (|loss - log(2N-1)|, N, tau, loss) for every collapsed batch
for N in (8, 64, 256):
    collapsed = torch.randn(1, D, device=device).repeat(N, 1)  # (N, D) every row the same
    collapsed_losses = {t: contrastlab.losses.nt_xent(collapsed, collapsed, temperature=t).item()
                        for t in temperatures}
    random_losses = [
        contrastlab.losses.nt_xent(torch.randn(N, D, device=device),  # (N, D) view 1
                                   torch.randn(N, D, device=device),  # (N, D) an unrelated view 2
                                   temperature=0.5).item()
        for _ in range(repeats)
    ]
    random_loss = sum(random_losses) / repeats
    info_nce_collapsed = contrastlab.losses.info_nce(collapsed, collapsed, temperature=0.1).item()
    gaps += [(abs(loss - math.log(2 * N - 1)), N, t, loss) for t, loss in collapsed_losses.items()]
    print(f"{N:>4} {math.log(2 * N - 1):>10.5f} {collapsed_losses[0.5]:>10.5f} {random_loss:>10.5f}"
          f"   {math.log(N):>7.4f} {info_nce_collapsed:>18.4f}")

gap, N, t, loss = max(gaps, key=lambda g: g[0] if math.isfinite(g[0]) else math.inf)  # NaN counts as worst
if not gap < 1e-5:
    if abs(loss - math.log(2 * N)) < 1e-4:
        hint = ("That is log(2N): the denominator still counts each embedding's similarity with itself;"
                " NT-Xent must leave out the diagonal of the (2N, 2N) similarity matrix.")
    else:
        hint = ("With every logit equal, any value but log(2N-1) means the softmax is not over"
                " exactly the 2N-1 other embeddings.")
    raise AssertionError(f"A collapsed batch should give exactly log(2N-1) = {math.log(2 * N - 1):.5f}"
                         f" at N = {N}, but nt_xent gave {loss:.5f} at temperature {t}. {hint}")
print(f"\nCheck passed: a collapsed batch gives log(2N-1) to within {gap:.1e}"
      f" for N in (8, 64, 256) and temperatures {temperatures}.")

# %% [markdown]
# **Question.** Why is the random batch almost the same as the collapsed batch, when one is the worst
# failure of contrastive learning and the other is just an untrained encoder? And what would a
# well-trained batch give: 0?
#
# <details>
# <summary>Answer (click to reveal)</summary>
#
# The loss only sees how the positive's similarity compares with the negatives'. In both batches the
# positive has no edge: all similarities are 1 (collapsed) or all are about 0 (random), so the softmax
# is (nearly) uniform over the $2N-1$ candidates. The loss value alone cannot tell the two apart;
# alignment and uniformity can (the collapsed batch has perfect alignment and the worst uniformity).
#
# A well-trained batch gives its positives similarity near 1 and its negatives near 0 (or below), so
# the loss drops below chance, but not to 0: with $s_{ii} = 1$ and $s_{ij} = 0$ each anchor still
# pays $\log\bigl(1 + (2N-2)\,e^{-1/\tau}\bigr)$. At $\tau = 0.5$ and $N = 256$ that is about 4.25,
# against a chance level of 6.24. The temperature sets the floor; the next cell measures it.
#
# </details>

# %%
N = 256
perfect = torch.eye(N, 512, device=device)  # (N, 512) orthonormal rows: s_ii = 1, s_ij = 0
print(f"N = {N}: chance level log(2N-1) = {math.log(2 * N - 1):.4f}")
for t in (0.1, 0.5, 1.0):
    loss = contrastlab.losses.nt_xent(perfect, perfect, temperature=t).item()
    floor = math.log(1 + (2 * N - 2) * math.exp(-1 / t))
    print(f"  tau = {t}: perfect batch {loss:.4f}   log(1 + (2N-2) e^(-1/tau)) = {floor:.4f}")

# %% [markdown]
# ## Exercise: InfoNCE as a cross-entropy
#
# Write in-batch, one-directional InfoNCE yourself:
#
# 1. scale the rows of `query` and `positive` to unit length (`F.normalize(x, dim=1)`);
# 2. form the `(N, N)` logits: similarities divided by the temperature;
# 3. the positive of query `i` is column `i`: return `F.cross_entropy(logits, targets)`.
#
# Then run the self-check below it. It compares your function with `contrastlab.losses.info_nce` and,
# if they differ, tells you which common mistake your number matches.

# %%
def my_info_nce(query: torch.Tensor, positive: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """In-batch InfoNCE of (N, D) queries against their (N, D) positives, as a cross-entropy."""
    # Your code here: normalise, (N, N) logits, targets, cross-entropy.
    return None


# %%
def check_info_nce(fn) -> bool:
    """Compare fn with contrastlab.losses.info_nce and explain the first difference found."""
    generator, tau = torch.Generator().manual_seed(1), 0.2
    query = torch.randn(32, 16, generator=generator).to(device)  # (32, 16)
    noise = torch.randn(32, 16, generator=generator).to(device)  # (32, 16)
    positive = 3.0 * (query + 0.5 * noise)  # (32, 16), not unit length on purpose
    expected = contrastlab.losses.info_nce(query, positive, temperature=tau).item()
    try:
        got = fn(query, positive, temperature=tau)
    except Exception as error:  # report it, the learner fixes it
        print(f"Not yet: your function raised {type(error).__name__}: {error}")
        print("Hint: (N, D) @ (D, N) gives the (N, N) logits; the second factor is positive.T.")
        return False
    if got is None:
        print("Not done yet: your function returns None. Fill in its body (a solution is below).")
        return False
    got = torch.as_tensor(got)
    if got.numel() != 1:
        print(f"Not yet: expected a scalar (the mean loss over the batch), got a tensor of shape {tuple(got.shape)}.")
        return False
    got = got.item()
    if math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-5):
        print(f"Check passed: your InfoNCE {got:.5f} matches contrastlab.losses.info_nce {expected:.5f}.")
        return True
    q, k, targets = F.normalize(query, dim=1), F.normalize(positive, dim=1), torch.arange(32, device=device)
    mistakes = {  # value of each common mistake, computed the wrong way on purpose
        "forgot to normalise the rows (the logits must be cosine similarities)": F.cross_entropy(query @ positive.T / tau, targets),
        "multiplied by the temperature instead of dividing by it": F.cross_entropy(q @ k.T * tau, targets),
        "left out the temperature": F.cross_entropy(q @ k.T, targets),
        "returned the sum over the batch instead of the mean": F.cross_entropy(q @ k.T / tau, targets, reduction="sum"),
        "transposed the logits (each positive picks among the queries)": F.cross_entropy(k @ q.T / tau, targets),
    }
    print(f"Not yet: your value {got:.5f} differs from contrastlab.losses.info_nce {expected:.5f}.")
    for mistake, value in mistakes.items():
        if math.isclose(got, value.item(), rel_tol=1e-4, abs_tol=1e-5):
            print(f"It matches what you get if you {mistake}.")
            return False
    print("Check the logits' shape is (N, N) and the targets are torch.arange(N) on the same device.")
    return False


check_info_nce(my_info_nce)

# %% [markdown]
# <details>
# <summary>Solution (click to reveal)</summary>
#
# ```python
# def my_info_nce(query, positive, temperature=0.1):
#     q = F.normalize(query, dim=1)  # (N, D) unit rows
#     k = F.normalize(positive, dim=1)  # (N, D) unit rows
#     logits = q @ k.T / temperature  # (N, N) cosine similarities / tau
#     targets = torch.arange(len(q), device=q.device)  # (N,) positive of row i is column i
#     return F.cross_entropy(logits, targets)
#
#
# check_info_nce(my_info_nce)
# ```
#
# `F.cross_entropy` computes `logsumexp(logits[i]) - logits[i, i]`, the same formula as above, from a
# single matrix. That matters at small temperatures, and it is what the package does too.
#
# </details>

# %% [markdown]
# ## Summary
#
# - A contrastive loss is a classification: each anchor picks its positive among candidates.
#   `info_nce` and `nt_xent` are cross-entropies over a similarity matrix divided by a temperature.
# - Read a loss against its chance level, $\log N$ for in-batch InfoNCE and $\log(2N-1)$ for NT-Xent.
#   A collapsed batch sits exactly at chance and a random one almost at it; learning shows as the
#   distance below chance, and the temperature sets how far below chance even a perfect batch can go.
# - The loss value cannot tell collapse from randomness; alignment (positives close) and uniformity
#   (embeddings spread over the sphere) can.
#
# ## Further reading
#
# - A. van den Oord, Y. Li, O. Vinyals (2018). *Representation Learning with Contrastive Predictive
#   Coding* (CPC, the InfoNCE loss). [arXiv:1807.03748](https://arxiv.org/abs/1807.03748)
# - T. Chen, S. Kornblith, M. Norouzi, G. Hinton (2020). *A Simple Framework for Contrastive Learning
#   of Visual Representations* (SimCLR, NT-Xent). ICML. [arXiv:2002.05709](https://arxiv.org/abs/2002.05709)
# - T. Wang, P. Isola (2020). *Understanding Contrastive Representation Learning through Alignment and
#   Uniformity on the Hypersphere*. ICML. [arXiv:2005.10242](https://arxiv.org/abs/2005.10242)
