"""Search over gallery images: keyword + semantic prompts, fused, mapped to visible images.

Search works on prompts (`prompts.keywords`, `prompts.vectors`); many images share one prompt.
The caller's image queryset carries visibility and the gallery filters; its prompt ids go into
both searches (filters inside the search, not after), and its rows are what comes back.
Keyword and semantic rankings are fused with reciprocal rank fusion (RRF, k=60): a prompt's
score is the sum of 1/(60 + rank) over the lists it is in, so no score scale has to match.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import close_old_connections, connection, connections
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from gallery.models import Image
from gallery.selectors import image_list, image_rows
from prompts.embeddings import query_embed
from prompts.keywords import prompts_keyword_search
from prompts.selectors import prompts_nearest, prompts_nearest_style
from prompts.vectors import vector_index

RRF_K = 60
# The most images one search returns over all its pages.
SEARCH_MAX_IMAGES = 1000
SEARCH_ORDERINGS = ("relevance", "-created", "-likes", "trending")
SIMILAR_BY = ("prompt", "style")


class Matched:
    """How a hit matched the query (the API's ``matched`` values)."""

    SEMANTIC = "semantic"
    KEYWORD = "keyword"
    BOTH = "both"


@dataclass(frozen=True)
class SearchHit:
    """One image in a result list, with its prompt's score and how it matched."""

    image_id: int
    score: float
    matched: str


def search_query_clean(query: str) -> str:
    """The query as searched: no NUL or control characters, single spaces, bounded length."""
    text = "".join(ch if ch.isprintable() else " " for ch in query)
    return " ".join(text.split())[: settings.SEARCH_MAX_QUERY_CHARS]


def prompts_fuse(
    *, keyword: list[tuple[int, float]], semantic: list[tuple[int, float]]
) -> list[tuple[int, float, str]]:
    """Reciprocal rank fusion of two best-first lists: (prompt id, score, matched), best first."""
    scores: dict[int, float] = {}
    sides: dict[int, set[str]] = {}
    for side, hits in ((Matched.KEYWORD, keyword), (Matched.SEMANTIC, semantic)):
        for rank, (prompt_id, _) in enumerate(hits, start=1):
            scores[prompt_id] = scores.get(prompt_id, 0.0) + 1.0 / (RRF_K + rank)
            sides.setdefault(prompt_id, set()).add(side)
    fused = [
        (pid, score, Matched.BOTH if len(sides[pid]) == 2 else next(iter(sides[pid])))
        for pid, score in scores.items()
    ]
    fused.sort(key=lambda item: (-item[1], -item[0]))
    return fused


def _ids_in(ids: list[int]) -> list[int] | RawSQL:
    """``ids`` for an ``__in`` lookup. On PostgreSQL one array parameter, unnested: a list of
    400 placeholders took twice as long to build, bind and parse (8.2 against 4.6 ms for a
    search's image rows at 1M prompts). Elsewhere the list itself."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", (ids,))
    return ids


def _images_for_prompts(
    *,
    images: QuerySet[Image],
    ranked: list[tuple[int, float, str]],
    ordering: str,
    per_prompt: int | None = None,
) -> list[SearchHit]:
    """The images of the ranked prompts (within ``images``), in the requested order."""
    if not ranked:
        return []
    rank = {pid: (i, score, matched) for i, (pid, score, matched) in enumerate(ranked)}
    # Newest first from the database; ``created`` itself is not read back: parsing a few
    # hundred timestamps in Python was ~1.7 ms of a search at 1M prompts.
    rows = list(
        images.filter(prompt_id__in=_ids_in(list(rank)))
        .order_by("-created", "-id")
        .values_list("id", "prompt_id", "like_count", "hot")[:SEARCH_MAX_IMAGES]
    )
    if per_prompt is not None:
        counts: dict[int, int] = {}
        kept = []
        for row in rows:  # newest first, so each prompt keeps its newest images
            counts[row[1]] = counts.get(row[1], 0) + 1
            if counts[row[1]] <= per_prompt:
                kept.append(row)
        rows = kept
    if ordering == "relevance":
        rows.sort(key=lambda r: rank[r[1]][0])  # stable: newest first within a prompt
    elif ordering == "-likes":
        rows.sort(key=lambda r: (-r[2], -r[0]))
    elif ordering == "trending":
        rows.sort(key=lambda r: (-r[3], -r[0]))
    return [SearchHit(image_id=r[0], score=rank[r[1]][1], matched=rank[r[1]][2]) for r in rows]


class _KeywordSide:
    """A thread that runs the keyword side of a PostgreSQL search on its own connection while
    the request's thread embeds the query and runs the vector side: both sides are work for
    the database server, which then does them on two cores at once. The queries that are slow
    on one side (a style phrase in 5% of a million prompts) are slow on both (bench/README.md,
    "1M"). One thread per process: a request that finds it busy with another request's search
    runs its keyword side itself, as before."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._free = threading.Lock()

    def submit(
        self, *, query: str, k: int, within: QuerySet | None
    ) -> Future[list[tuple[int, float]]] | None:
        """The keyword search under way on the thread, or None if it is busy (or not allowed:
        SQLite searches in process, and another connection would not see the uncommitted rows
        of a transaction open on the request's)."""
        allowed = (
            settings.SEARCH_PARALLEL_SIDES
            and connection.vendor == "postgresql"
            and not connection.in_atomic_block
        )
        if not allowed or not self._free.acquire(blocking=False):
            return None
        try:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="search-keyword")
            return self._pool.submit(self._run, query=query, k=k, within=within)
        except RuntimeError:  # the interpreter is shutting down: no new threads
            self._free.release()
            return None

    def _run(self, *, query: str, k: int, within: QuerySet | None) -> list[tuple[int, float]]:
        # The thread's connection is looked after as a request's is (CONN_MAX_AGE, health
        # checks): a restarted server costs one reconnect.
        close_old_connections()
        try:
            return prompts_keyword_search(query=query, k=k, within=within)
        finally:
            close_old_connections()
            self._free.release()

    def connection_close(self) -> None:
        """Close the thread's database connection, if it has one (before a test database is
        dropped: an open session would block the DROP)."""
        if self._pool is not None:
            self._pool.submit(connections.close_all).result()


keyword_side = _KeywordSide()


def images_search(
    *,
    query: str,
    images: QuerySet[Image],
    filtered: bool,
    ordering: str = "relevance",
) -> list[SearchHit]:
    """Images whose prompts match ``query`` literally or in meaning, best first.

    ``images`` is the visible, filtered queryset; ``filtered`` says whether it excludes any
    visible image (if not, the prompt searches skip the filter subquery). Prompts below
    `SEARCH_MIN_SIMILARITY` are no semantic match. ``ordering``: one of `SEARCH_ORDERINGS`.
    """
    text = search_query_clean(query)
    if not text:
        return []
    within = images.values_list("prompt_id", flat=True) if filtered else None
    k = settings.SEARCH_CANDIDATES
    pending = keyword_side.submit(query=text, k=k, within=None if within is None else within.all())
    if pending is None:
        keyword = prompts_keyword_search(query=text, k=k, within=within)
    semantic = [
        hit
        for hit in vector_index().search(vector=query_embed(text=text), k=k, within=within)
        if hit[1] >= settings.SEARCH_MIN_SIMILARITY
    ]
    if pending is not None:
        keyword = pending.result()
    ranked = prompts_fuse(keyword=keyword, semantic=semantic)
    return _images_for_prompts(images=images, ranked=ranked, ordering=ordering)


def images_similar_to(
    *,
    image: Image,
    images: QuerySet[Image],
    by: str = "prompt",
    limit: int = 24,
) -> list[SearchHit]:
    """Images whose prompts are nearest to this image's, one per prompt, nearest first.

    Two pivots, kept apart: ``by="prompt"`` compares whole prompts, subject and style
    (`prompts.selectors.prompts_nearest`); ``by="style"`` compares the style parts only
    (artists, mediums, lighting, camera, quality tags: `prompts.selectors.prompts_nearest_style`),
    whatever the subject, so a Monet cat leads to Monet dragons before cat photos. The image
    itself and every image sharing its prompt (exact duplicates) are left out; the visibility
    of ``images`` applies to the candidates.
    """
    if by not in SIMILAR_BY:
        raise ValueError(f"by must be one of {', '.join(SIMILAR_BY)}")
    if by == "style":
        hits = prompts_nearest_style(prompt_id=image.prompt_id, text=image.prompt.text)
    else:
        hits = prompts_nearest(prompt_id=image.prompt_id, text=image.prompt.text, limit=limit)
    ranked = [(pid, sim, Matched.SEMANTIC) for pid, sim in hits]
    visible = images.exclude(pk=image.pk)
    return _images_for_prompts(images=visible, ranked=ranked, ordering="relevance", per_prompt=1)[
        :limit
    ]


def images_for_hits(
    *, hits: list[SearchHit], user: AbstractBaseUser | AnonymousUser | None = None
) -> list[Image]:
    """The image rows of a page of hits (one query), in order, each with ``search_score`` and
    ``search_matched`` set for the serializer. Hits no longer visible are dropped."""
    rows = image_list(user=user).in_bulk([hit.image_id for hit in hits])
    result = []
    for hit in hits:
        image = rows.get(hit.image_id)
        if image is not None:
            image.search_score = hit.score
            image.search_matched = hit.matched
            result.append(image)
    return result


def image_rows_for_hits(
    *, hits: list[SearchHit], user: AbstractBaseUser | AnonymousUser | None = None
) -> list[dict]:
    """The API's form of `images_for_hits`: plain `image_rows` dicts (one query), in order,
    each with ``search_score`` and ``search_matched``. Building 50 model instances (with owner
    and prompt) was a fifth of a search request's CPU."""
    ids = [hit.image_id for hit in hits]
    rows = {row["id"]: row for row in image_rows(user=user).filter(id__in=_ids_in(ids))}
    return [
        {**rows[hit.image_id], "search_score": hit.score, "search_matched": hit.matched}
        for hit in hits
        if hit.image_id in rows
    ]
