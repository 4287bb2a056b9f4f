"""Capacity model: how many GPUs for how many users, and what saturates first.

Generation is a queue with N servers (one worker process per GPU, concurrency 1, prefetch 1):
jobs arrive at rate lambda = users x jobs per user-hour / 3600 and each takes S seconds of GPU
(steps / it/s per image, times the batch, plus our measured per-job overhead). With Poisson
arrivals and exponential service this is M/M/N, whose mean queue wait is Erlang's C formula:
Wq = C(N, a) x S / (N - a), with a = lambda x S the offered load in GPUs. Real service times
vary less than exponential (fixed steps and size), so these waits are an upper bound.

The rest of the stack is counted per job from the code, with the single-machine figures of
bench/README.md as rates:
- database writes per job: submit (1 insert), claim (1 conditional UPDATE), progress/lease
  (at most 4 UPDATEs a second while rendering: JobProgress writes every 0.25 s), completion
  (prompt get-or-create, image rows, M2M rows, job UPDATE: ~6 statements per image);
- broker messages per job: 1 publish and 1 delivery (republishes only for lost messages);
- search and browsing: requests per user-hour, each one keyset query (list API) or one
  pgvector HNSW probe plus a keyword query (search).

Usage::

    .venv/bin/python bench/capacity.py                       # the default scenarios
    .venv/bin/python bench/capacity.py --its 54 --steps 30 --users 20000 --jobs-per-hour 6
"""

from __future__ import annotations

import argparse
import math

# Measured here (bench/README.md) or published (shared FACTS): inputs, not outputs.
OVERHEAD_S = 0.13  # per-job CPU overhead beyond the pipeline call, Redis broker (p50)
LIST_API_RPS_PER_2_CORES = 167  # gunicorn, 2 workers, PostgreSQL, 100k images
PGVECTOR_QUERY_MS = 1.6  # HNSW at 100k, one query, median
REDIS_TASKS_PER_S = 10_000  # assumed: conservative for one Redis core (not measured here)
SQLITE_BROKER_TASKS_PER_S = 10  # kombu SQLAlchemy transport at 0.1 s polling (FACTS)
PG_SIMPLE_WRITES_PER_S_PER_CORE = 5_000  # assumed: short indexed writes (not measured here)


def erlang_c(servers: int, load: float) -> float:
    """Probability that an arriving job waits (M/M/servers with offered load ``load``)."""
    if load >= servers:
        return 1.0
    term, total = 1.0, 1.0
    for k in range(1, servers):
        term *= load / k
        total += term
    term *= load / servers
    tail = term * servers / (servers - load)
    return tail / (total + tail)


def queue_wait(servers: int, arrival_per_s: float, service_s: float) -> float:
    """Mean seconds a job waits before a GPU takes it (inf when the GPUs cannot keep up)."""
    load = arrival_per_s * service_s
    if load >= servers:
        return math.inf
    return erlang_c(servers, load) * service_s / (servers - load)


def job_seconds(*, its: float, steps: int, batch: int) -> float:
    return steps / its * batch + OVERHEAD_S


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--its", type=float, default=54.0, help="UNet it/s of one GPU (H100 SD1.5 512px)"
    )
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--users", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument(
        "--jobs-per-hour", type=float, default=4.0, help="jobs per active user-hour"
    )
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--browse-per-hour", type=float, default=120.0, help="page/API views")
    parser.add_argument("--search-share", type=float, default=0.3)
    args = parser.parse_args()

    service = job_seconds(its=args.its, steps=args.steps, batch=args.batch)
    print(
        f"One job: {args.steps} steps x batch {args.batch} at {args.its} it/s + "
        f"{OVERHEAD_S * 1000:.0f} ms overhead = {service:.2f} s of GPU\n"
    )
    print("| Active users | Jobs/s | " + " | ".join(f"{n} GPU wait" for n in args.gpus) + " |")
    print("|---|---|" + "---|" * len(args.gpus))
    for users in args.users:
        rate = users * args.jobs_per_hour / 3600
        cells = []
        for gpus in args.gpus:
            wait = queue_wait(gpus, rate, service)
            cells.append("saturated" if math.isinf(wait) else f"{wait:.2f} s")
        print(f"| {users:,} | {rate:.2f} | " + " | ".join(cells) + " |")

    print("\nGPUs needed to keep the mean wait under 1 s:\n")
    print("| Active users | GPUs | DB writes/s | Broker msgs/s | Web cores | pgvector q/s |")
    print("|---|---|---|---|---|---|")
    for users in args.users:
        rate = users * args.jobs_per_hour / 3600
        gpus = max(1, math.ceil(rate * service))
        while queue_wait(gpus, rate, service) > 1.0:
            gpus += 1
        render_s = service - OVERHEAD_S
        writes = rate * (2 + 6 * args.batch) + gpus * min(4.0, 1 / 0.25) * min(
            1.0, rate * render_s / gpus
        )
        browse = users * args.browse_per_hour / 3600
        web_cores = browse / (LIST_API_RPS_PER_2_CORES / 2)
        searches = browse * args.search_share
        row = [f"{users:,}", str(gpus), f"{writes:,.0f}", f"{2 * rate:,.1f}"]
        row += [f"{web_cores:.1f}", f"{searches:,.0f}"]
        print("| " + " | ".join(row) + " |")

    print(
        f"\nWhere the rest saturates (per the rates above): PostgreSQL writes at about "
        f"{PG_SIMPLE_WRITES_PER_S_PER_CORE:,}/s per core; pgvector at about "
        f"{1000 / PGVECTOR_QUERY_MS:,.0f} queries/s per core; Redis at ~{REDIS_TASKS_PER_S:,} "
        f"tasks/s; the embedded SQLite broker at ~{SQLITE_BROKER_TASKS_PER_S} tasks/s "
        "(fine for one machine, not for a fleet)."
    )


if __name__ == "__main__":
    main()
