"""Rehearse on the county's own rows (README, Deploying safely): the pending upgrade runs on
a copy of the live database, measured per revision, and the live database is only read.

Each test copies the migrated template (``fresh_database``), puts rows in it, adds pending
revisions to a copy of versions/, and asks the same core the CLI calls.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.aio import run_blocking
from terrafusion_sync.cli import main
from terrafusion_sync.database import connect
from terrafusion_sync.migrations.planning import rehearse as rehearsal
from terrafusion_sync.provision import derived_name, drop_database, ensure_database
from terrafusion_sync.testing import TestDatabases

from helpers import (
    HEAD,
    SECRET,
    add_revision,
    assert_one_line_error,
    cli,
    execute,
    finish,
    rows,
    spawn,
    wait_for,
)

on_loop = pytest.mark.asyncio(loop_scope="session")

PROPERTIES = (
    "INSERT INTO property_operational (property_id, parcel_number, county_id, postal_code)"
    " SELECT 'P' || g, 'N' || g, 'benton', lpad((g % 99999)::text, 5, '0')"
    " FROM generate_series(1, 3000) g"
)
REPORTS = (
    "INSERT INTO report_jobs (report_id, report_type, county_id)"
    " SELECT g::text, 'assessment', 'county-' || (g % 50) FROM generate_series(1, 2000) g"
)
TO_INTEGER = (
    'op.alter_column("property_operational", "postal_code", type_=sa.Integer(),\n'
    '                postgresql_using="postal_code::integer")'
)


async def live_state(url: URL) -> list[tuple[Any, ...]]:
    """What must not change on the live database: each table's rows (counted and summed by
    their text), its catalog (columns, constraints, indexes), sequences and revision."""
    counts = await rows(
        url,
        "SELECT 'property_operational', count(*), md5(string_agg(t::text, ',' ORDER BY id))"
        " FROM property_operational t UNION ALL"
        " SELECT 'report_jobs', count(*), md5(string_agg(t::text, ',' ORDER BY report_id))"
        " FROM report_jobs t UNION ALL"
        " SELECT 'history', count(*), '' FROM tfsync_migration_history",
    )
    catalog = await rows(
        url,
        "SELECT c.relname, c.relkind::text, c.relfilenode,"
        " (SELECT string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod), ','"
        "  ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0),"
        " (SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint"
        "  WHERE conrelid = c.oid)"
        " FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1",
    )
    sequences = await rows(url, "SELECT sequencename, last_value FROM pg_sequences ORDER BY 1")
    version = await rows(url, "SELECT version_num FROM alembic_version")
    return [*counts, *catalog, *sequences, *version]


async def copies_left(url: URL) -> list[tuple[Any, ...]]:
    return await rows(
        url,
        "SELECT datname FROM pg_database WHERE datname LIKE :p",
        p=f"{url.database[:30]}%rehearse%",
    )


@on_loop
async def test_a_rehearsal_measures_each_revision_on_the_copy_beside_the_plan(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh_database: URL,
    versions: Path,
) -> None:
    await execute(fresh_database, PROPERTIES, REPORTS, "ANALYZE")
    add_revision(
        versions,
        "a19000000001",
        HEAD,
        'op.alter_column("report_jobs", "message", type_=sa.String(500))\n'
        "op.execute(\"UPDATE property_operational SET city = 'Kennewick'\")",
        doc="widen message",
    )
    before = await live_state(fresh_database)

    code, out, err = cli(
        env, capsys, fresh_database, "rehearse", "--format", "json", versions=versions
    )

    assert code == 0, err
    found = json.loads(out)
    assert found["ok"] is True
    assert found["copied"]["rows"] >= 5000
    [revision] = found["revisions"]
    assert revision["revision"] == "a19000000001"
    assert revision["ok"] is True
    assert revision["duration_s"] > 0
    lines = [s["line"] for s in revision["statements"]]
    assert len(lines) == 2
    assert all(s["seconds"] > 0 for s in revision["statements"])
    assert "UPDATE property_operational" in revision["statements"][1]["sql"]
    jobs = next(t for t in revision["tables"] if t["table"] == "report_jobs")
    assert jobs["lock"] == "AccessExclusiveLock"
    assert jobs["rewrite"] is True
    assert jobs["lock_held_s"] > 0
    assert jobs["plan"]["lock"] == "AccessExclusiveLock"
    assert jobs["plan"]["estimated_lock_s"] > 0
    properties = next(t for t in revision["tables"] if t["table"] == "property_operational")
    assert properties["lock"] == "RowExclusiveLock"
    assert revision["wal_bytes"] > 0  # 3000 rows updated and a table rewritten
    assert revision["size_delta_bytes"] > 0
    assert found["not_rehearsed"] == []
    # the live database was only read, and the copy is gone
    assert await live_state(fresh_database) == before
    assert await copies_left(fresh_database) == []


@on_loop
async def test_a_revision_the_plan_passes_fails_on_the_real_rows_and_is_named(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh_database: URL,
    versions: Path,
) -> None:
    await execute(
        fresh_database,
        PROPERTIES,
        "UPDATE property_operational SET postal_code = 'N/A' WHERE id = 2077",
        "ANALYZE",
    )
    path = add_revision(versions, "a19000000002", HEAD, TO_INTEGER, doc="postal code number")
    add_revision(versions, "a19000000003", "a19000000002", "op.drop_index('ix_x')", doc="later")
    cfg = migrations.alembic_config(versions_dir=versions)
    before = await live_state(fresh_database)

    the_plan = await migrations.plan(fresh_database, cfg=cfg)
    assert [p.will_fail for p in the_plan.revisions] == [[], []]  # the plan sees nothing wrong

    code, out, err = cli(
        env, capsys, fresh_database, "rehearse", "--format", "json", versions=versions
    )
    assert code == 1, err
    found = json.loads(out)
    assert found["ok"] is False
    [failed] = found["revisions"]
    assert failed["revision"] == "a19000000002"
    assert failed["ok"] is False
    error = failed["error"]
    assert 'invalid input syntax for type integer: "N/A"' in error["error"]
    assert (
        "ALTER TABLE property_operational ALTER COLUMN postal_code TYPE INTEGER"
        in (error["statement"])
    )
    assert (
        error["line"]
        == path.read_text()
        .splitlines()
        .index('    op.alter_column("property_operational", "postal_code", type_=sa.Integer(),')
        + 1
    )
    assert error["key"] == "(id)=2077: postal_code = 'N/A'"
    assert error["seconds"] > 0
    assert found["not_rehearsed"] == ["a19000000003"]

    code, out, _ = cli(env, capsys, fresh_database, "rehearse", versions=versions)
    assert code == 1
    assert "a19000000002  postal code number" in out
    assert "failing row: (id)=2077: postal_code = 'N/A'" in out
    assert "a19000000003: not rehearsed" in out
    assert await live_state(fresh_database) == before
    assert await copies_left(fresh_database) == []


@on_loop
async def test_nothing_pending_says_so(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fresh_database: URL
) -> None:
    code, out, err = cli(env, capsys, fresh_database, "rehearse")
    assert (code, err) == (0, "")
    assert "nothing pending, nothing to rehearse" in out


@on_loop
async def test_a_backfill_is_rehearsed_with_its_rows_and_rate(
    fresh_database: URL, versions: Path
) -> None:
    await execute(fresh_database, PROPERTIES)
    add_revision(
        versions,
        "a19000000004",
        HEAD,
        "op.backfill('property_operational', set='city = upper(county_id)',"
        " where='city IS NULL', batch_time='20ms')",
        doc="city backfill",
    )
    cfg = migrations.alembic_config(versions_dir=versions)
    found = await rehearsal.rehearse(fresh_database, cfg=cfg)
    [revision] = found.revisions
    [backfill] = revision.backfills
    assert (backfill.table, backfill.rows, backfill.state) == ("property_operational", 3000, "done")
    assert backfill.rows_per_s > 0
    assert await rows(
        fresh_database, "SELECT count(*) FROM property_operational WHERE city IS NOT NULL"
    ) == [(0,)]


@on_loop
async def test_sample_keeps_a_share_of_large_tables_and_every_foreign_key(
    fresh_database: URL, versions: Path
) -> None:
    parcels = (
        'op.create_table("parcels", sa.Column("id", sa.Integer, primary_key=True),'
        ' sa.Column("county", sa.Text))\n'
        'op.create_table("sales", sa.Column("id", sa.Integer, primary_key=True),'
        ' sa.Column("parcel_id", sa.Integer, sa.ForeignKey("parcels.id")),'
        ' sa.Column("price", sa.Integer))\n'
        'op.create_table("sale_notes", sa.Column("id", sa.Integer, primary_key=True),'
        ' sa.Column("sale_id", sa.Integer, sa.ForeignKey("sales.id")))'
    )
    add_revision(versions, "a19000000005", HEAD, parcels, doc="parcels")
    add_revision(
        versions,
        "a19000000006",
        "a19000000005",
        'op.create_check_constraint("ck_sales_price", "sales", "price > 0")',
        doc="sale price",
    )
    cfg = migrations.alembic_config(versions_dir=versions)
    await migrations.upgrade(fresh_database, "a19000000005", cfg=cfg)
    await execute(
        fresh_database,
        "INSERT INTO parcels SELECT g, 'benton' FROM generate_series(1, 40000) g",
        "INSERT INTO sales SELECT g, 1 + g % 40000, g FROM generate_series(1, 30000) g",
        "INSERT INTO sales SELECT g, NULL, g FROM generate_series(30001, 30100) g",
        "INSERT INTO sale_notes SELECT g, g * 5 FROM generate_series(1, 6000) g",
        "ANALYZE",
    )
    options = rehearsal.Options(sample=10, keep=True)
    found = await rehearsal.rehearse(fresh_database, cfg=cfg, options=options)
    copy = fresh_database.set(database=found.copy.rsplit("/", 1)[-1])
    try:
        assert found.ok
        assert found.copied is not None
        copied = {t.name: t.rows for t in found.copied.tables}
        assert 2000 < copied["public.parcels"] < 6000  # about 10 %
        # about 10 % of sales, and of those only the ones whose parcel was kept
        assert 0 < copied["public.sales"] < 1000
        assert copied["public.sale_notes"] < 600  # small: kept where its sale was
        for child, parent, key in (
            ("sales", "parcels", "parcel_id"),
            ("sale_notes", "sales", "sale_id"),
        ):
            orphans = await rows(
                copy,
                f"SELECT count(*) FROM {child} c WHERE c.{key} IS NOT NULL AND NOT EXISTS"
                f" (SELECT 1 FROM {parent} p WHERE p.id = c.{key})",
            )
            assert orphans == [(0,)], child
        assert await rows(copy, "SELECT version_num FROM alembic_version") == [("a19000000006",)]
    finally:
        await drop_database(copy)


@on_loop
async def test_a_live_writer_never_waits_on_the_rehearsal(
    fresh_database: URL, versions: Path
) -> None:
    await execute(
        fresh_database,
        "INSERT INTO report_jobs (report_id, report_type, county_id)"
        " SELECT g::text, 'assessment', 'benton' FROM generate_series(1, 200000) g",
        "ANALYZE",
    )
    add_revision(
        versions,
        "a19000000007",
        HEAD,
        'op.alter_column("report_jobs", "message", type_=sa.String(500))',
        doc="widen",
    )
    cfg = migrations.alembic_config(versions_dir=versions)
    before = await rows(fresh_database, "SELECT count(*) FROM report_jobs")
    waits: list[float] = []
    done = asyncio.Event()

    async def writer() -> None:
        async with connect(fresh_database) as conn:
            while not done.is_set():
                clock = time.perf_counter()
                await conn.execute(
                    text("UPDATE report_jobs SET message = 'touched' WHERE report_id = '1'")
                )
                await conn.execute(
                    text(
                        "INSERT INTO report_jobs (report_id, report_type, county_id)"
                        " VALUES ('new', 'assessment', 'benton')"
                    )
                )
                await conn.execute(text("DELETE FROM report_jobs WHERE report_id = 'new'"))
                await conn.commit()
                waits.append(time.perf_counter() - clock)
                await asyncio.sleep(0.01)

    task = asyncio.create_task(writer())
    try:
        found = await rehearsal.rehearse(fresh_database, cfg=cfg)
    finally:
        done.set()
        await task
    assert found.ok
    assert len(waits) > 5
    # each write went through at once while the table was read: a moment, not the copy
    assert max(waits) < 1, max(waits)
    assert await rows(fresh_database, "SELECT count(*) FROM report_jobs") == before


@on_loop
async def test_a_user_without_createdb_gets_one_line_and_nothing_is_left(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh_database: URL,
    versions: Path,
) -> None:
    role = f"tfs_rehearse_{secrets.token_hex(3)}"
    await execute(
        fresh_database,
        f"CREATE ROLE {role} LOGIN NOCREATEDB",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
    )
    add_revision(
        versions,
        "a19000000008",
        HEAD,
        'op.add_column("report_jobs", sa.Column("w", sa.Integer))',
        doc="column",
    )
    try:
        code, _, err = cli(
            env, capsys, fresh_database.set(username=role), "rehearse", versions=versions
        )
        assert code == 2
        assert_one_line_error(
            err,
            f"user '{role}' may not create the rehearsal's copy",
            "permission denied to create database",
            "CREATEDB",
            "--to URL",
        )
        assert await copies_left(fresh_database) == []
    finally:
        await execute(
            fresh_database,
            f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}",
            f"DROP ROLE {role}",
        )


@on_loop
async def test_an_unreachable_to_gets_one_line(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh_database: URL,
    versions: Path,
) -> None:
    add_revision(
        versions,
        "a19000000009",
        HEAD,
        'op.add_column("report_jobs", sa.Column("w", sa.Integer))',
        doc="column",
    )
    to = f"postgresql://postgres:{SECRET}@127.0.0.1:9/staging"
    code, _, err = cli(env, capsys, fresh_database, "rehearse", "--to", to, versions=versions)
    assert code == 2
    assert_one_line_error(err, "cannot connect to PostgreSQL at 127.0.0.1:9")
    assert await copies_left(fresh_database) == []


@on_loop
async def test_to_puts_the_copy_on_the_server_it_names(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh_database: URL,
    versions: Path,
) -> None:
    await execute(fresh_database, REPORTS)
    add_revision(
        versions,
        "a19000000010",
        HEAD,
        'op.add_column("report_jobs", sa.Column("w", sa.Integer))',
        doc="column",
    )
    staging = fresh_database.set(database="postgres")
    to = staging.render_as_string(hide_password=False)
    code, out, err = cli(
        env,
        capsys,
        fresh_database,
        "rehearse",
        "--to",
        to,
        "--keep",
        "--format",
        "json",
        versions=versions,
    )
    assert code == 0, err
    found = json.loads(out)
    copy = staging.set(database=found["copy"].rsplit("/", 1)[-1])
    try:
        assert found["kept"] is True
        assert await rows(copy, "SELECT count(*) FROM report_jobs") == [(2000,)]
        assert await rows(copy, "SELECT version_num FROM alembic_version") == [("a19000000010",)]
    finally:
        await drop_database(copy)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
@on_loop
async def test_a_cancelled_rehearsal_leaves_no_copy(
    fresh_database: URL, versions: Path, how: signal.Signals
) -> None:
    await execute(
        fresh_database,
        "INSERT INTO report_jobs (report_id, report_type, county_id)"
        " SELECT g::text, 'assessment', 'benton' FROM generate_series(1, 300000) g",
        "ANALYZE",
    )
    add_revision(
        versions,
        "a19000000011",
        HEAD,
        'op.add_column("report_jobs", sa.Column("w", sa.Integer))',
        doc="column",
    )
    before = await live_state(fresh_database)
    process = spawn(fresh_database, "rehearse", versions=versions)
    await wait_for(  # this rehearsal's own copy under way (other tests may copy too)
        fresh_database,
        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
        " AND state = 'active' AND query LIKE 'COPY %'",
    )
    # held where it is, so that the signal lands during the copy however fast the server
    # copies (on a server in RAM, the whole rehearsal can end within one poll)
    process.send_signal(signal.SIGSTOP)
    process.send_signal(how)
    process.send_signal(signal.SIGCONT)
    code, _, err = finish(process)
    assert code == 2
    assert_one_line_error(err, "the rehearsal was cancelled", "its copy was dropped")
    assert await copies_left(fresh_database) == []
    assert await live_state(fresh_database) == before


@on_loop
async def test_sample_must_be_a_percent(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh_database: URL,
    versions: Path,
) -> None:
    add_revision(versions, "a19000000012", HEAD, "pass", doc="nothing")
    code, _, err = cli(env, capsys, fresh_database, "rehearse", "--sample", "0", versions=versions)
    assert code == 2
    assert_one_line_error(err, "--sample 0 is not a share of rows", "at most 100")


def test_fleet_rehearse_rehearses_every_database_and_names_the_failing_one(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tfsync_test_databases: TestDatabases,
    versions: Path,
    tmp_path: Path,
) -> None:
    base = tfsync_test_databases.url
    token = secrets.token_hex(3)
    good, bad = (
        base.set(database=derived_name(base.database or "", "county", token, name))
        for name in ("good", "bad")
    )
    add_revision(versions, "a19000000013", HEAD, TO_INTEGER, doc="postal code number")
    fleet = tmp_path / "fleet.toml"
    lines = [
        f'[databases.{name}]\nurl = "{url.set(drivername="postgresql").render_as_string()}"'
        for name, url in (("benton", good), ("franklin", bad))
    ]
    fleet.write_text("\n".join([*lines, '[databases.down]\nurl = "postgresql://x@127.0.0.1:9/d"']))
    env.setenv("TFSYNC_VERSIONS_DIR", str(versions))
    template = tfsync_test_databases.template.database
    try:
        for url in (good, bad):
            run_blocking(ensure_database(url, template=template))
            run_blocking(execute(url, PROPERTIES))
        run_blocking(
            execute(bad, "UPDATE property_operational SET postal_code = 'N/A' WHERE id = 7")
        )

        code = main(["fleet", "rehearse", "--fleet", str(fleet), "--jobs", "2"])
        out, err = capsys.readouterr()

        assert code == 1, err
        assert "benton: ok, 1 revision(s) rehearsed" in out
        assert (
            "franklin: FAILED at a19000000013 line 13: invalid input syntax for type integer" in out
        )
        assert "(row (id)=7: postal_code = 'N/A')" in out
        assert "down: cannot rehearse: cannot connect to PostgreSQL at 127.0.0.1:9" in out
        assert "3 database(s) rehearsed: 1 passed" in out
        for url in (good, bad):
            assert run_blocking(rows(url, "SELECT version_num FROM alembic_version")) == [(HEAD,)]
            assert run_blocking(copies_left(url)) == []
    finally:
        for url in (good, bad):
            run_blocking(drop_database(url))


@on_loop
async def test_a_duplicate_is_named_by_its_key(fresh_database: URL, versions: Path) -> None:
    await execute(fresh_database, REPORTS)
    add_revision(
        versions,
        "a19000000014",
        HEAD,
        'op.create_index("ix_one_per_county", "report_jobs", ["county_id"], unique=True)',
        doc="one report per county",
    )
    cfg = migrations.alembic_config(versions_dir=versions)
    found = await rehearsal.rehearse(fresh_database, cfg=cfg)
    [failed] = found.revisions
    assert failed.failure is not None
    assert "could not create unique index" in failed.failure.error
    assert failed.failure.key is not None
    assert failed.failure.key.startswith("Key (county_id)=(county-")
    assert failed.failure.key.endswith(") is duplicated.")


@on_loop
async def test_a_live_table_the_migrations_do_not_make_is_one_line(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh_database: URL,
    versions: Path,
) -> None:
    await execute(fresh_database, "CREATE TABLE made_by_hand (id int)")
    add_revision(versions, "a19000000015", HEAD, "pass", doc="nothing")
    code, _, err = cli(env, capsys, fresh_database, "rehearse", versions=versions)
    assert code == 2
    assert_one_line_error(
        err, "the live database has table(s) its revision files do not create", "made_by_hand"
    )
    assert await copies_left(fresh_database) == []
