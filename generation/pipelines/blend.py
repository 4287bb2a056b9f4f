"""Prompt blending: one conditioning made of several prompts' text-encoder embeddings.

What the remix tray's *blend* strategy sends to the worker (Midjourney's /blend, for prompts):
each source prompt is encoded on its own, and the token embeddings are mixed by spherical
interpolation, not by averaging. CLIP's hidden states of different prompts point in different
directions with similar lengths; a plain average of two of them is shorter than either (the
more they differ, the shorter), which the UNet reads as a weaker, washed-out prompt. Slerp
keeps the direction on the arc between the two and interpolates the length linearly.

More than two sources are folded in one at a time, each taking its share of what came
before: ``slerp(slerp(a, b, wb / (wa + wb)), c, wc / (wa + wb + wc))``. That is exact for two
sources and a close, order-dependent approximation of a spherical mean for more, which is
what every "blend N prompts" implementation we know of does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: Below this angle (radians) between two token vectors, slerp is numerically a lerp.
_PARALLEL = 1e-4


def embeddings_slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation from ``a`` (t=0) to ``b`` (t=1), token by token.

    ``a`` and ``b`` have the same shape (batch, tokens, dim); every token vector moves along
    the great circle between its two directions while its length goes linearly from
    ``|a|`` to ``|b|``. Computed in float32, returned in ``a``'s dtype.
    """
    import torch

    if a.shape != b.shape:
        raise ValueError(
            f"Cannot blend embeddings of shapes {tuple(a.shape)} and {tuple(b.shape)}."
        )
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"The blend position must be between 0 and 1, not {t}.")
    x, y = a.float(), b.float()
    x_len = x.norm(dim=-1, keepdim=True)
    y_len = y.norm(dim=-1, keepdim=True)
    x_dir = x / x_len.clamp_min(1e-12)
    y_dir = y / y_len.clamp_min(1e-12)
    cos = (x_dir * y_dir).sum(dim=-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    near = sin.abs() < _PARALLEL
    safe_sin = torch.where(near, torch.ones_like(sin), sin)
    x_share = torch.where(near, torch.full_like(sin, 1 - t), torch.sin((1 - t) * omega) / safe_sin)
    y_share = torch.where(near, torch.full_like(sin, t), torch.sin(t * omega) / safe_sin)
    direction = x_share * x_dir + y_share * y_dir
    direction = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    length = (1 - t) * x_len + t * y_len
    return (direction * length).to(a.dtype)


def blend_weights_check(weights: list[float]) -> None:
    """Raise ValueError unless every weight is a finite number >= 0 and one is above 0."""
    if any(not 0 <= weight < float("inf") for weight in weights) or not sum(weights) > 0:
        raise ValueError("Blend weights must be at least 0, and one above 0.")


def embeddings_blend(embeddings: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    """Several prompts' embeddings (same shape) mixed by their weights (any positive scale).

    A weight of 0 leaves its source out; one source with all the weight comes back unchanged.
    """
    if len(embeddings) != len(weights) or not embeddings:
        raise ValueError("Give one weight per embedding, and at least one embedding.")
    blend_weights_check(weights)
    mixed: torch.Tensor | None = None
    total = 0.0
    for embedding, weight in zip(embeddings, weights, strict=True):
        if weight == 0:
            continue
        if mixed is None:
            mixed, total = embedding, weight
            continue
        total += weight
        mixed = embeddings_slerp(mixed, embedding, weight / total)
    assert mixed is not None
    return mixed
