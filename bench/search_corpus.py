"""Prompt corpora for the search benchmarks, and their cached embeddings.

What and why: `bench/search.py` needs 10k and 100k prompts whose vectors look like those of
real Stable Diffusion prompts, and embedding them costs minutes, so this module

- reads the ~1,000 real prompts of ``../shared/data/open-prompts-1k.csv`` (column ``prompt``),
- builds larger corpora by recombining their comma-separated phrases (a real prompt's first
  phrase, its subject, followed by 2 to 8 phrases drawn from the pool of all later phrases),
  deterministically and prefix-stable: the 10k corpus is the first 10,000 prompts of the 100k one,
- embeds them with the project's own embedder (`prompts.embeddings.texts_embed`) in chunks of
  2,000 cached as ``bench/.cache/vectors-<sha of the chunk's texts>.npy`` (git-ignored), so a
  run that stops keeps its finished chunks and no chunk is ever embedded twice.

``python bench/search_corpus.py --size 100000 [--jobs 2]`` fills the cache ahead of a run
(Django is set up against a throwaway ATELIER_VAR_DIR; nothing is written to the project's
database).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "open-prompts-1k.csv"
CACHE = REPO / "bench" / ".cache"
CHUNK = 2000
SEED = 20261125


def real_prompts() -> list[str]:
    """The distinct non-empty prompts of the CSV, in file order."""
    seen: dict[str, None] = {}
    with DATA.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            text = " ".join(row["prompt"].split())
            if text:
                seen.setdefault(text, None)
    return list(seen)


def _phrases(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def corpus(size: int) -> list[str]:
    """``size`` distinct prompts: the real ones first, then recombinations (prefix-stable)."""
    real = real_prompts()
    texts: dict[str, None] = dict.fromkeys(real[:size])
    subjects = [_phrases(t)[0] for t in real if _phrases(t)]
    pool = [p for t in real for p in _phrases(t)[1:]]
    rng = random.Random(SEED)
    while len(texts) < size:
        words = [rng.choice(subjects), *rng.sample(pool, rng.randint(2, 8))]
        texts.setdefault(", ".join(words), None)
    return list(texts)


def _chunk_path(texts: list[str]) -> Path:
    """One file per chunk of texts and embedder (`embedding_model_name`: int8 != torch)."""
    from prompts.embeddings import embedding_model_name

    key = embedding_model_name() + "\n" + "\n".join(texts)
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return CACHE / f"vectors-{digest}.npy"


def cached_vectors(texts: list[str], *, embed: bool = True, verbose: bool = True) -> np.ndarray:
    """Unit float32 vectors of ``texts`` (the project's embedder), from the cache where possible.

    With ``embed=False`` a missing chunk raises `FileNotFoundError` instead of being embedded.
    Needs Django set up when anything has to be embedded.
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    parts: list[np.ndarray] = []
    for start in range(0, len(texts), CHUNK):
        chunk = texts[start : start + CHUNK]
        path = _chunk_path(chunk)
        if path.exists():
            parts.append(np.load(path))
            continue
        if not embed:
            raise FileNotFoundError(path)
        from prompts.embeddings import texts_embed

        started = time.perf_counter()
        vectors = texts_embed(texts=chunk)
        took = time.perf_counter() - started
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, vectors)
        tmp.replace(path)
        parts.append(vectors)
        if verbose:
            print(
                f"embedded prompts {start:,}-{start + len(chunk):,} in {took:.0f} s "
                f"({len(chunk) / took:.0f}/s), load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    return np.concatenate(parts) if parts else np.zeros((0, 384), dtype=np.float32)


def phrase_vectors() -> dict[str, np.ndarray]:
    """Every distinct phrase of the corpus builder (subjects and later phrases), embedded once.

    Cached as one file per embedder; about 9,000 short texts, a minute or less.
    """
    real = real_prompts()
    phrases = sorted({p for t in real for p in _phrases(t)})
    return dict(zip(phrases, cached_vectors(phrases, verbose=False), strict=True))


def derived_vectors(texts: list[str], phrases: dict[str, np.ndarray]) -> np.ndarray:
    """Vectors for prompts too many to embed here: the normalised mean of their phrases' vectors.

    Each recombined prompt is a subject and 2-8 phrases, so its vector is composed from the
    embeddings of exactly the phrases in its text (the subject weighted 2, as the model gives
    the first phrase the most weight), not invented: keyword and semantic sides still agree
    about it. `bench/search.py` prints how close this comes to the real embedding on the
    prompts it has both for.
    """
    out = np.zeros((len(texts), 384), dtype=np.float32)
    for row, text in enumerate(texts):
        parts = _phrases(text)
        vector = 2 * phrases[parts[0]] + sum(phrases[p] for p in parts[1:])
        out[row] = vector / max(float(np.linalg.norm(vector)), 1e-12)
    return out


def django_setup(var_dir: Path, database_url: str | None = None) -> None:
    """Django against a throwaway var dir (SQLite there unless ``database_url``)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["ATELIER_VAR_DIR"] = str(var_dir)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DEBUG"] = "false"
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost,testserver"
    os.environ["PYTHONWARNINGS"] = "ignore:No directory at"
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import warnings

    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument(
        "--jobs", type=int, default=1, help="embedding processes (one core each; 1M: ~40 min on 2)"
    )
    parser.add_argument("--worker", type=int, default=-1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.jobs > 1 and args.worker < 0:
        # Worker i embeds chunks i, i + jobs, ...: each chunk is cached on its own, so the
        # workers never write the same file, and a stopped run keeps what it finished.
        command = [sys.executable, __file__, "--size", str(args.size), "--jobs", str(args.jobs)]
        workers = [subprocess.Popen([*command, "--worker", str(i)]) for i in range(args.jobs)]
        if any(worker.wait() for worker in workers):
            return 1
    with tempfile.TemporaryDirectory(prefix="atelier-bench-var-") as var_dir:
        django_setup(Path(var_dir))
        texts = corpus(args.size)
        if args.worker >= 0:
            for index, start in enumerate(range(0, len(texts), CHUNK)):
                if index % args.jobs == args.worker:
                    cached_vectors(texts[start : start + CHUNK], verbose=False)
            return 0
        vectors = cached_vectors(texts)
        print(f"{len(vectors):,} vectors ready in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
