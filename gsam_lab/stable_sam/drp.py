"""Dynamic Routing Plugin (DRP): a prompt-conditioned mix of deformed and regular-grid features.

Reading (docs/methods/stable_sam.md, DRP): a small MLP ``LayerNorm -> Linear(C, hidden) ->
GELU -> Linear(hidden, 2)`` on a prompt-conditioned token (the IoU token after decoder layer 1)
gives routing weights ``alpha = (a1, a2)`` per prompt and::

    keys/values = a1 * deformed + a2 * regular

``routing="soft"`` (default): ``alpha = softmax(logits)``. ``routing="hard"``: ``alpha`` is the
one-hot of the larger logit (ties pick *deformed*); in training the gradient flows through the
softmax (straight-through estimator).

No-op start: the last linear layer is zero, so ``alpha = (0.5, 0.5)`` (soft) or ``(1, 0)`` (hard);
with an untrained DSP ``deformed == regular`` bit for bit, and ``0.5 x + 0.5 x == x`` exactly.
Parameters with ``C = 256`` and ``hidden = 16``: 512 + 4,112 + 34 = 4,658.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["DynamicRoutingPlugin", "ROUTINGS"]

ROUTINGS = ("soft", "hard")


class DynamicRoutingPlugin(nn.Module):
    """DRP: routing weights from a prompt-conditioned token.

    Args:
        dim: channels ``C`` of the token (256).
        hidden: width of the MLP's hidden layer.
        routing: ``"soft"`` or ``"hard"`` (see the module docstring).

    ``forward(token)``: ``token`` ``B x C`` -> ``alpha`` ``B x 2`` (column 0 weighs the deformed
    features, column 1 the regular ones; each row sums to 1).
    """

    def __init__(self, dim: int = 256, hidden: int = 16, routing: str = "soft"):
        super().__init__()
        if routing not in ROUTINGS:
            raise ValueError(f"routing must be one of {ROUTINGS}, got {routing!r}")
        self.dim, self.routing = int(dim), routing
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, 2))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """The no-op start: zero last layer (equal logits)."""
        self.mlp[-1].weight.zero_()
        self.mlp[-1].bias.zero_()

    def logits(self, token: torch.Tensor) -> torch.Tensor:
        """Routing logits ``B x 2``."""
        if token.ndim != 2 or token.shape[1] != self.dim:
            raise ValueError(f"DRP expects one token per prompt, B x {self.dim}, got {tuple(token.shape)}")
        return self.mlp(token)

    def forward(self, token: torch.Tensor) -> torch.Tensor:
        soft = torch.softmax(self.logits(token), dim=-1)
        if self.routing == "soft":
            return soft
        hard = torch.zeros_like(soft)
        hard[:, 0] = (soft[:, 0] >= soft[:, 1]).to(soft.dtype)
        hard[:, 1] = 1 - hard[:, 0]
        if torch.is_grad_enabled() and soft.requires_grad:
            return hard - soft.detach() + soft          # straight-through: value hard, gradient soft
        return hard

    @staticmethod
    def mix(alpha: torch.Tensor, deformed: torch.Tensor, regular: torch.Tensor) -> torch.Tensor:
        """``alpha[:, 0] * deformed + alpha[:, 1] * regular`` for ``B x N x C`` (or ``B x C x H x W``) features.

        Computed as one fused ``torch.lerp(regular, deformed, alpha[:, 0])`` (the rows of ``alpha``
        sum to 1): one pass over the features instead of three, which matters for 64 prompts x
        4096 tokens x 256 channels. ``alpha = (0, 1)`` gives ``regular`` and ``(1, 0)`` gives
        ``deformed`` exactly, and so does any ``alpha`` when ``deformed == regular``.
        """
        shape = (alpha.shape[0],) + (1,) * (deformed.ndim - 1)
        return torch.lerp(regular, deformed, alpha[:, 0].reshape(shape).to(deformed.dtype))
