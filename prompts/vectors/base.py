"""The interface every vector backend implements, and what a search returns."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

import numpy as np
from django.db.models import QuerySet

Hit = tuple[int, float]  # (prompt id, cosine similarity)


class VectorIndex(Protocol):
    def add(self, *, prompt_ids: Sequence[int], vectors: np.ndarray) -> None: ...

    def remove(self, *, prompt_ids: Collection[int]) -> None: ...

    def search(
        self,
        *,
        vector: np.ndarray,
        k: int,
        within: QuerySet | None = None,
        exclude: Collection[int] = (),
    ) -> list[Hit]: ...
