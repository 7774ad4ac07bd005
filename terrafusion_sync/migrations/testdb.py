"""The test databases: migrated once per change of the revision files, then only copied.

For a test database ``<test>`` (``TEST_DATABASE_URL``, or the embedded one):

- ``<test>_tmpl`` is the template: an empty database brought to head, then marked as a
  template that accepts no connections. Its ``COMMENT ON DATABASE`` is a *stamp*: a
  fingerprint of every file in ``versions/`` and the heads it was migrated to.
- ``<test>`` itself, and every per-worker or per-test database, is a copy of the template
  (``CREATE DATABASE … TEMPLATE``): a few milliseconds, whatever the number of revisions.

:func:`prepare_test_database` is a no-op (one connection, three small queries) while the
stamps match the files and ``<test>`` is still at the stamped heads. Otherwise the
template and ``<test>`` are dropped and built again: they are test databases.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection

from terrafusion_sync.database import connect, quoted
from terrafusion_sync.errors import MissingDatabaseError
from terrafusion_sync.migrations.deploy.upgrade import upgrade
from terrafusion_sync.migrations.outcome import Report, quiet
from terrafusion_sync.migrations.plumbing.checksums import versions_fingerprint
from terrafusion_sync.migrations.plumbing.config import alembic_config, versions_dir
from terrafusion_sync.provision import (
    MAINTENANCE_DATABASE,
    derived_name,
    drop_database,
    ensure_database,
)
from terrafusion_sync.settings import url_label

READY_ENV = "TFSYNC_TEST_DATABASE_READY"
"""Set by ``tfsync test`` for the pytest it starts: ``<host:port/db> <fingerprint>``.

Not secret. The fixtures skip the check when it names the same database and fingerprint.
"""

TEMPLATE_SUFFIX = "tmpl"
_STAMP_PREFIX = "tfsync test database"


@dataclass(frozen=True)
class Stamp:
    """What a template (or a copy of it) was built from: the files and the heads."""

    fingerprint: str
    heads: tuple[str, ...]

    def render(self) -> str:
        """The ``COMMENT ON DATABASE`` text."""
        return f"{_STAMP_PREFIX} {self.fingerprint} heads={','.join(self.heads)}"

    def comment_on(self, database: str | None) -> str:
        """The SQL that stamps ``database``."""
        literal = self.render().replace("'", "''")
        return f"COMMENT ON DATABASE {quoted(database or '')} IS '{literal}'"

    @classmethod
    def parse(cls, comment: str | None) -> Stamp | None:
        """The stamp in a database comment, or ``None`` when there is none."""
        if not comment or not comment.startswith(_STAMP_PREFIX + " "):
            return None
        fingerprint, _, heads = comment.removeprefix(_STAMP_PREFIX + " ").partition(" heads=")
        return cls(fingerprint, tuple(h for h in heads.split(",") if h))


@dataclass(frozen=True)
class Prepared:
    """The outcome of :func:`prepare_test_database`."""

    url: URL
    fingerprint: str
    rebuilt: bool
    """True when ``<test>`` was dropped and copied again from the template."""
    applied: tuple[str, ...] = ()
    """The revisions applied to build a new template (empty when it was still good)."""


def template_url(url: URL) -> URL:
    """The template the test database ``url`` (and its copies) are made from."""
    return url.set(database=derived_name(url.database or "", TEMPLATE_SUFFIX))


def worker_url(url: URL, worker: str) -> URL:
    """The database of one pytest-xdist worker (``gw0``, ``gw1``…)."""
    return url.set(database=derived_name(url.database or "", worker))


async def prepare_test_database(
    url: URL, *, cfg: Config | None = None, report: Report = quiet
) -> Prepared:
    """Make ``url`` a copy of a template at head; a no-op when it already is one.

    Serialised by an advisory lock, so parallel runs and xdist workers can all call it.
    """
    cfg = cfg or alembic_config()
    fingerprint = versions_fingerprint(versions_dir(cfg))
    if await _is_ready(url, fingerprint):
        return Prepared(url, fingerprint, rebuilt=False)
    async with _lock(url):
        if await _is_ready(url, fingerprint):  # another process built it while we waited
            return Prepared(url, fingerprint, rebuilt=False)
        template = template_url(url)
        stamp = await _template_stamp(template)
        applied: tuple[str, ...] = ()
        if stamp is None or stamp.fingerprint != fingerprint:
            report(f"building the test template {template.database} (revision files changed)")
            applied, stamp = await _build_template(template, fingerprint, cfg, report)
        await _copy(url, stamp)
        report(f"test database {url.database} copied from the template at head")
        return Prepared(url, fingerprint, rebuilt=True, applied=applied)


async def drop_test_databases(url: URL) -> None:
    """Drop the test database ``url`` and its template (they are built again when needed)."""
    await _drop(template_url(url))
    await drop_database(url)


async def copy_template(url: URL, name: str) -> URL:
    """A new database ``name``, a copy of ``url``'s template (replacing a leftover of that name).

    The caller drops it (:func:`terrafusion_sync.provision.drop_database`).
    """
    copy = url.set(database=name)
    await drop_database(copy)
    await ensure_database(copy, template=template_url(url).database)
    return copy


def ready_marker(url: URL, fingerprint: str) -> str:
    """The value of :data:`READY_ENV` for a prepared ``url``: no password, just where and what."""
    return f"{url_label(url)} {fingerprint}"


def mark_ready(prepared: Prepared) -> None:
    """Tell the pytest started from this process (and its workers) not to check again."""
    os.environ[READY_ENV] = ready_marker(prepared.url, prepared.fingerprint)


def is_marked_ready(url: URL, cfg: Config | None = None) -> bool:
    """True when :data:`READY_ENV` says ``url`` was prepared from the current files."""
    fingerprint = versions_fingerprint(versions_dir(cfg or alembic_config()))
    return os.environ.get(READY_ENV) == ready_marker(url, fingerprint)


async def ensure_test_database(url: URL) -> None:
    """What the fixtures call: prepare ``url`` unless ``tfsync test`` already did."""
    if not is_marked_ready(url):
        mark_ready(await prepare_test_database(url))


async def _is_ready(url: URL, fingerprint: str) -> bool:
    """True when ``url`` and its template carry ``fingerprint`` and ``url`` is at their heads."""
    template = template_url(url).database or ""
    try:
        async with connect(url) as conn:
            stamps, versioned = await _read_stamps(conn, url.database or "", template)
            current = await _current_heads(conn) if versioned else ()
    except MissingDatabaseError:
        return False
    own, of_template = stamps.get(url.database), stamps.get(template)
    return (
        own is not None
        and own == of_template
        and own.fingerprint == fingerprint
        and set(own.heads) == set(current)
    )


async def _template_stamp(template: URL) -> Stamp | None:
    name = template.database or ""
    async with connect(template.set(database=MAINTENANCE_DATABASE)) as conn:
        stamps, _ = await _read_stamps(conn, name, name)
    return stamps.get(name)


async def _read_stamps(
    conn: AsyncConnection, a: str, b: str
) -> tuple[dict[str | None, Stamp], bool]:
    """The stamps of databases ``a`` and ``b``; whether ``conn``'s has an ``alembic_version``."""
    rows = await conn.execute(
        text(
            "SELECT datname, shobj_description(oid, 'pg_database'),"
            " to_regclass('alembic_version') IS NOT NULL"
            " FROM pg_database WHERE datname IN (:a, :b)"
        ),
        {"a": a, "b": b},
    )
    found = rows.all()
    stamps = {name: Stamp.parse(comment) for name, comment, _ in found}
    versioned = any(flag for _, _, flag in found)
    return {name: stamp for name, stamp in stamps.items() if stamp is not None}, versioned


async def _current_heads(conn: AsyncConnection) -> tuple[str, ...]:
    return tuple(await conn.scalars(text("SELECT version_num FROM alembic_version")))


async def _build_template(
    template: URL, fingerprint: str, cfg: Config, report: Report
) -> tuple[tuple[str, ...], Stamp]:
    await _drop(template)
    await ensure_database(template)
    # everything, contract revisions included: a fresh template has no old code to wait for
    outcome = await upgrade(template, "head", cfg=cfg, report=report, contract=True, force=True)
    stamp = Stamp(fingerprint, outcome.heads)
    name = template.database
    async with connect(template.set(database=MAINTENANCE_DATABASE), autocommit=True) as conn:
        await conn.execute(text(stamp.comment_on(name)))
        await conn.execute(
            text(f"ALTER DATABASE {quoted(name or '')} IS_TEMPLATE true ALLOW_CONNECTIONS false")
        )
    return tuple(outcome.applied), stamp


async def _copy(url: URL, stamp: Stamp) -> None:
    """``url`` again, as a copy of its template, carrying the template's stamp."""
    await copy_template(url, url.database or "")
    async with connect(url.set(database=MAINTENANCE_DATABASE), autocommit=True) as conn:
        await conn.execute(text(stamp.comment_on(url.database)))


async def _drop(template: URL) -> None:
    """Drop a template: it must stop being one first."""
    async with connect(template.set(database=MAINTENANCE_DATABASE), autocommit=True) as conn:
        marked = await conn.scalar(
            text("SELECT datistemplate FROM pg_database WHERE datname = :name"),
            {"name": template.database},
        )
        if marked:
            await conn.execute(
                text(f"ALTER DATABASE {quoted(template.database or '')} IS_TEMPLATE false")
            )
    await drop_database(template)


@asynccontextmanager
async def _lock(url: URL) -> AsyncIterator[None]:
    """A server-wide advisory lock for building ``url``; released when the connection closes."""
    async with connect(url.set(database=MAINTENANCE_DATABASE), autocommit=True) as conn:
        key = f"tfsync test database {url.database}"
        await conn.execute(text("SELECT pg_advisory_lock(hashtext(:key))"), {"key": key})
        yield
