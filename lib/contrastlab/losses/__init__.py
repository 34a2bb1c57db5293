"""contrastlab.losses: contrastive and non-contrastive losses on one log-sum-exp core.

Conventions: inputs first, hyperparameters keyword-only; ``temperature`` is always a divisor and
``logit_scale`` always a multiplier; embeddings are L2-normalised inside where the method does so;
logits are computed in float32 or wider; every loss returns a scalar mean on the inputs' device.
CONVENTIONS.md maps each loss to its counterpart in the peer libraries.
"""

from .clip import LearnableLogitScale, clip_loss, clip_loss_with_negatives, siglip_loss
from .debiased import (debiased_log_negatives, debiased_nt_xent, hard_negative_from_logits, hard_negative_nt_xent,
                       negative_logits)
from .filtered import false_negative_mask, filtered_nt_xent
from .geometry import alignment, uniformity
from .infonce import decoupled_nt_xent, info_nce, nt_xent, oracle_nt_xent
from .noncontrastive import barlow_twins, negative_cosine, vicreg
from .reference_values import ReferenceValues, reference_values
from .supcon import supcon

__all__ = [
    "info_nce", "nt_xent", "decoupled_nt_xent", "oracle_nt_xent", "debiased_nt_xent", "hard_negative_nt_xent",
    "filtered_nt_xent", "false_negative_mask", "clip_loss", "clip_loss_with_negatives", "siglip_loss",
    "LearnableLogitScale", "supcon",
    "alignment", "uniformity", "negative_cosine", "barlow_twins", "vicreg",
    # building blocks that let a caller reuse one logits matrix (the widgets move β and τ⁺ on it)
    "negative_logits", "hard_negative_from_logits", "debiased_log_negatives",
    # what a loss reads when collapsed, at chance and at its floor (for loss curves and health checks)
    "reference_values", "ReferenceValues",
]
