"""SQLite: the table mirrored in process, searched exactly (numpy) or by an f16 HNSW (usearch)."""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from collections.abc import Collection, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, QuerySet

from prompts.embeddings import embedding_model_name, vector_from_bytes
from prompts.models import PromptEmbedding
from prompts.vectors.base import Hit

logger = logging.getLogger(__name__)


def embeddings_version() -> int | None:
    """SQLite's embedding change counter (migration 0004), None where there is none.

    Bumped by triggers on every write to the embedding table, by any process: unchanged means
    an in-memory index is current, without reading the table.
    """
    if connection.vendor != "sqlite":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT version FROM prompts_embedding_changes WHERE id = 1")
        row = cursor.fetchone()
    return int(row[0]) if row else None


class _TableMirror:
    """An in-process copy of the current model's vectors, kept in step with the table.

    Before each search `refresh` asks the change token (SQLite, migration 0004) whether any
    process wrote; if so, one query (count, latest ``updated``) says what: rows changed since the
    last look are reloaded, a deletion (count lower than expected) is handled by `_deleted`,
    another model means a full rebuild. Subclasses hold the vectors (`_reset`, `_upsert`).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._model = ""
        self._seen: tuple[int, object] = (0, None)
        self._version: int | None = None

    def _rows(self) -> QuerySet:
        return PromptEmbedding.objects.filter(model=embedding_model_name())

    def _load(self, rows: QuerySet) -> tuple[np.ndarray, np.ndarray]:
        pairs = list(rows.values_list("prompt_id", "vector"))
        ids = np.fromiter((p for p, _ in pairs), dtype=np.int64, count=len(pairs))
        matrix = np.zeros((len(pairs), settings.EMBEDDING_DIMENSIONS), dtype=np.float32)
        for row, (_, blob) in enumerate(pairs):
            matrix[row] = vector_from_bytes(blob)
        return ids, matrix

    # What a subclass stores.
    def _reset(self, ids: np.ndarray, matrix: np.ndarray) -> None:
        raise NotImplementedError

    def _upsert(self, ids: np.ndarray, matrix: np.ndarray) -> None:
        raise NotImplementedError

    def _size(self) -> int:
        raise NotImplementedError

    def _deleted(self) -> None:
        """Some rows are gone: the simple answer is to start again."""
        self._reset(*self._load(self._rows()))

    def _restore(self) -> None:
        """A subclass with a saved copy loads it here (state included) before the first look."""

    def refresh(self) -> None:
        """Bring the copy up to date with the table (one tiny query when nothing changed)."""
        version = embeddings_version()
        model = embedding_model_name()
        if version is not None and version == self._version and self._model == model:
            return
        with self._lock:
            if not self._model:
                self._restore()
            state = self._rows().aggregate(n=Count("*"), latest=Max("updated"))
            seen = (state["n"], state["latest"])
            if seen == self._seen and self._model == model:
                self._version = version
                return
            previous_latest = self._seen[1]
            if self._model != model or previous_latest is None:
                self._reset(*self._load(self._rows()))
            else:
                self._upsert(*self._load(self._rows().filter(updated__gte=previous_latest)))
                if self._size() != seen[0]:  # rows were deleted
                    self._deleted()
            self._model = model
            self._seen = seen
            self._version = version
            self._saved(seen)

    def _saved(self, seen: tuple[int, object]) -> None:
        """Hook: the copy now matches ``seen`` (a subclass may persist it)."""

    def add(self, *, prompt_ids: Sequence[int], vectors: np.ndarray) -> None:
        """Nothing to write: the BLOB rows are the source; `refresh` picks them up."""

    def remove(self, *, prompt_ids: Collection[int]) -> None:
        """Look at the table again on the next search (other processes see the token change)."""
        with self._lock:
            self._version = None

    def search(
        self,
        *,
        vector: np.ndarray,
        k: int,
        within: QuerySet | None = None,
        exclude: Collection[int] = (),
    ) -> list[Hit]:
        """The k nearest allowed prompts (``within``, minus ``exclude``), nearest first."""
        self.refresh()
        allowed = None if within is None else np.fromiter(within.order_by(), dtype=np.int64)
        excluded = np.asarray(list(exclude), dtype=np.int64)
        return self._search(np.asarray(vector, dtype=np.float32), k, allowed, excluded)

    def _search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None, excluded: np.ndarray
    ) -> list[Hit]:
        raise NotImplementedError


def _top_k(ids: np.ndarray, scores: np.ndarray, k: int, allowed: np.ndarray) -> list[Hit]:
    candidates = np.flatnonzero(allowed)
    if len(candidates) > k:
        top = np.argpartition(-scores[candidates], k - 1)[:k]
        candidates = candidates[top]
    order = candidates[np.argsort(-scores[candidates], kind="stable")]
    return [(int(ids[i]), float(scores[i])) for i in order]


class NumpyIndex(_TableMirror):
    """Exact cosine search in memory, shared by the threads of one process."""

    def __init__(self) -> None:
        super().__init__()
        self._ids = np.zeros(0, dtype=np.int64)
        self._matrix = np.zeros((0, settings.EMBEDDING_DIMENSIONS), dtype=np.float32)
        self._position: dict[int, int] = {}

    def _reset(self, ids: np.ndarray, matrix: np.ndarray) -> None:
        self._ids, self._matrix = ids, matrix
        self._position = {int(p): i for i, p in enumerate(ids)}

    def _size(self) -> int:
        return len(self._ids)

    def _upsert(self, ids: np.ndarray, matrix: np.ndarray) -> None:
        new = [i for i, p in enumerate(ids) if int(p) not in self._position]
        for i, p in enumerate(ids):
            if int(p) in self._position:
                self._matrix[self._position[int(p)]] = matrix[i]
        if new:
            self._reset(
                np.concatenate([self._ids, ids[new]]),
                np.concatenate([self._matrix, matrix[new]]),
            )

    def clear(self) -> None:
        """Free the matrix (the usearch index took over)."""
        with self._lock:
            self._reset(
                np.zeros(0, dtype=np.int64),
                np.zeros((0, settings.EMBEDDING_DIMENSIONS), dtype=np.float32),
            )
            self._model, self._seen, self._version = "", (0, None), None

    def _search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None, excluded: np.ndarray
    ) -> list[Hit]:
        with self._lock:
            ids, matrix = self._ids, self._matrix
        if not len(ids):
            return []
        scores = matrix @ query
        keep = np.ones(len(ids), dtype=bool)
        if allowed is not None:
            keep &= np.isin(ids, allowed)
        if len(excluded):
            keep &= ~np.isin(ids, excluded)
        return _top_k(ids, scores, k, keep)


class UsearchIndex(_TableMirror):
    """HNSW (usearch, f16, cosine) for large SQLite galleries, saved next to the database.

    The saved file is a cache: with its state (model, row count, latest ``updated``) beside it,
    a new process restores it in a second instead of rebuilding (minutes at 1M) and then applies
    only the changes since; a missing or unreadable file is rebuilt from the BLOBs. It is saved
    after a build and again once unsaved changes pass 1% of its size.

    Filters: a small allowed set (``within`` of at most `_EXACT_WITHIN` prompts) is searched
    exactly over its own vectors; a larger one widens the HNSW search (4x each round) until k
    allowed prompts are found or the whole index was looked at, so a filter never returns
    fewer hits than exist.
    """

    _EXACT_WITHIN = 20_000

    def __init__(self) -> None:
        super().__init__()
        self._index: Any = None
        self._unsaved = 0

    # --- storage -------------------------------------------------------------------------
    def _new(self) -> Any:
        Index = usearch_index_class()
        return Index(
            ndim=settings.EMBEDDING_DIMENSIONS,
            metric="cos",
            dtype="f16",
            connectivity=16,
            expansion_add=128,
            expansion_search=settings.SEARCH_HNSW_EF_SEARCH,
        )

    def cache_path(self) -> Path | None:
        """``<database>.usearch/<model>.usearch``; None for an in-memory database."""
        name = str(connection.settings_dict["NAME"])
        if not name or name == ":memory:" or name.startswith("file:"):
            return None
        slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in embedding_model_name())
        return Path(name + ".usearch") / f"{slug}.usearch"

    def _restore(self) -> None:
        path = self.cache_path()
        if path is None or not path.exists() or not path.with_suffix(".json").exists():
            return
        try:
            meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            if meta["model"] != embedding_model_name():
                return
            index = self._new()
            index.load(str(path))
            latest = datetime.fromisoformat(meta["latest"]) if meta["latest"] else None
        except Exception as error:  # any unreadable cache: rebuild it
            logger.warning("usearch cache %s unreadable (%s): rebuilding", path, error)
            return
        self._index = index
        self._model = meta["model"]
        self._seen = (int(meta["count"]), latest)

    def _saved(self, seen: tuple[int, object]) -> None:
        path = self.cache_path()
        if path is None or self._index is None:
            return
        if self._unsaved and self._unsaved < max(1000, len(self._index) // 100):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._index.save(str(tmp))
        latest = seen[1].isoformat() if isinstance(seen[1], datetime) else None
        meta = {"model": self._model, "count": seen[0], "latest": latest}
        tmp.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
        os.replace(tmp, path)
        os.replace(tmp.with_suffix(".json"), path.with_suffix(".json"))
        self._unsaved = 0

    # --- _TableMirror -------------------------------------------------------------------
    def _reset(self, ids: np.ndarray, matrix: np.ndarray) -> None:
        index = self._new()
        if len(ids):
            index.add(ids, matrix)
        self._index = index
        self._unsaved = 0

    def _size(self) -> int:
        return 0 if self._index is None else len(self._index)

    def _upsert(self, ids: np.ndarray, matrix: np.ndarray) -> None:
        if not len(ids):
            return
        present = np.asarray(self._index.contains(ids), dtype=bool)
        if present.any():
            self._index.remove(ids[present])
        self._index.add(ids, matrix)
        self._unsaved += len(ids)

    def _deleted(self) -> None:
        keys = np.asarray(self._index.keys, dtype=np.int64)
        live = np.fromiter(self._rows().values_list("prompt_id", flat=True), dtype=np.int64)
        gone = keys[~np.isin(keys, live)]
        if len(gone):
            self._index.remove(gone)
            self._unsaved += len(gone)

    def _search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None, excluded: np.ndarray
    ) -> list[Hit]:
        with self._lock:
            index = self._index
            size = self._size()
            if not size:
                return []
            if allowed is not None and len(allowed) <= self._EXACT_WITHIN:
                keys = allowed[np.asarray(index.contains(allowed), dtype=bool)]
                keys = keys[~np.isin(keys, excluded)]
                if not len(keys):
                    return []
                vectors = np.asarray(index.get(keys), dtype=np.float32).reshape(len(keys), -1)
                scores = vectors @ query / np.clip(np.linalg.norm(vectors, axis=1), 1e-12, None)
                return _top_k(keys, scores, k, np.ones(len(keys), dtype=bool))
            count = (k + len(excluded)) * (1 if allowed is None else 4)
            while True:
                wanted = min(count, size)
                matches = index.search(query, wanted)
                keys = np.asarray(matches.keys, dtype=np.int64)
                scores = 1.0 - np.asarray(matches.distances, dtype=np.float32)
                keep = ~np.isin(keys, excluded)
                if allowed is not None:
                    keep &= np.isin(keys, allowed)
                if keep.sum() >= k or wanted >= size:
                    return _top_k(keys, scores, k, keep)
                count *= 4


def usearch_index_class() -> Any:
    """usearch's ``Index``, imported after ONNX Runtime when that is installed.

    usearch 2.26.6 then onnxruntime 1.31 in one process is a segmentation fault at the second
    import (the other order works): a process whose first search pivots on a stored vector
    ("similar images") would import usearch first and crash on its first typed query.
    """
    from prompts.embedder_onnx import onnx_available

    if onnx_available():
        import onnxruntime  # noqa: F401

    from usearch.index import Index

    return Index


@functools.cache
def usearch_available() -> bool:
    from importlib.util import find_spec

    return find_spec("usearch") is not None
