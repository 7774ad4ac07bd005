"""README "Zero-downtime changes": a column type change that rewrites the table is written as
expand + contract, and run in two phases on a table with rows and an index."""

from __future__ import annotations

import asyncio
import runpy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import MetaData
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.core_models import Base
from terrafusion_sync.errors import MigrationError
from terrafusion_sync.migrations.authoring.type_changes import rewrites_or_may_fail
from terrafusion_sync.migrations.plumbing import phases

from helpers import CHAIN, execute, rows, upgrade_past_an_old_snapshot

pytestmark = pytest.mark.asyncio(loop_scope="session")

TABLE = "property_operational"
YEAR = "assessment_year"
YEAR_INDEX = f"ix_{TABLE}_{YEAR}"
STATUS_INDEX = "ix_report_jobs_county_id_status"
STATUS_CHECK = "ck_report_jobs_status_tfsync_new_not_null"


def retyped(**types: Any) -> MetaData:
    """The models with ``table.column`` given a new type: by default ``assessment_year``
    INTEGER -> BIGINT (indexed, nullable) and ``report_jobs.status`` VARCHAR(32) ->
    VARCHAR(16) (NOT NULL, a default, in a two-column index)."""
    types = types or {f"{TABLE}.{YEAR}": sa.BigInteger(), "report_jobs.status": sa.String(16)}
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        copy = table.to_metadata(metadata)
        for name, type_ in types.items():
            table_name, _, column = name.partition(".")
            if table_name == table.name:
                copy.c[column].type = type_
    return metadata


def config(versions: Path, metadata: MetaData | None = None) -> Any:
    return migrations.alembic_config(versions_dir=versions, target_metadata=metadata or retyped())


async def fill(url: URL, count: int) -> None:
    """``count`` parcels, each with an assessment year, and as many report jobs."""
    await execute(
        url,
        f"INSERT INTO {TABLE} (property_id, parcel_number, county_id, {YEAR}, created_at,"
        " updated_at) SELECT 'p' || g, 'parcel-' || g, 'benton', 2000 + g % 25, now(), now()"
        f" FROM generate_series(1, {count}) AS g",
        "INSERT INTO report_jobs (report_id, report_type, county_id, status)"
        f" SELECT 'r' || g, 'roll', 'benton', 'DONE-' || g % 7 FROM generate_series(1, {count}) g",
    )


async def write_pair(url: URL, versions: Path, count: int = 0) -> list[Path]:
    """Upgrade ``url`` to head, put ``count`` rows in, write the type change's pair."""
    await migrations.upgrade(url, cfg=config(versions))
    await fill(url, count)
    return await migrations.revision(url, "widen year", cfg=config(versions))


async def column_types(url: URL) -> list[tuple[str, str, str, str]]:
    """Table, column, type and nullability of the columns the pair touches."""
    return await rows(
        url,
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text"
        " FROM information_schema.columns WHERE (table_name, column_name) IN"
        f" (('{TABLE}', '{YEAR}'), ('{TABLE}', '{YEAR}_tfsync_new'),"
        " ('report_jobs', 'status'), ('report_jobs', 'status_tfsync_new'))"
        " ORDER BY 1, 2",
    )


async def filenode(url: URL) -> list[tuple[Any, ...]]:
    return await rows(url, f"SELECT relfilenode FROM pg_class WHERE oid = '{TABLE}'::regclass")


async def test_the_rule_of_what_never_rewrites() -> None:
    stays = [
        (sa.String(50), sa.String(100)),
        (sa.String(50), sa.Text()),
        (sa.Text(), sa.String()),
        (sa.String(), sa.Text()),
        (sa.Numeric(10, 2), sa.Numeric(12, 2)),
        (sa.Numeric(10, 2), sa.Numeric()),
        (sa.DateTime(timezone=True), sa.DateTime(timezone=True)),
        ("TIMESTAMP(3) WITHOUT TIME ZONE", "TIMESTAMP(6) WITHOUT TIME ZONE"),
        ("TIME(0)", "TIME"),
        (sa.Integer(), sa.Integer()),
    ]
    pairs = [
        (sa.String(100), sa.String(50)),
        (sa.Text(), sa.String(50)),
        (sa.Numeric(12, 2), sa.Numeric(10, 2)),
        (sa.Numeric(10, 2), sa.Numeric(12, 3)),
        (sa.Numeric(), sa.Numeric(12, 2)),
        (sa.Integer(), sa.BigInteger()),
        (sa.String(20), sa.Numeric()),
        ("TIMESTAMP(6) WITHOUT TIME ZONE", "TIMESTAMP(3) WITHOUT TIME ZONE"),
        (sa.DateTime(), sa.DateTime(timezone=True)),
        (sa.CHAR(10), sa.String(10)),
    ]
    assert [rewrites_or_may_fail(old, new) for old, new in stays] == [False] * len(stays)
    assert [rewrites_or_may_fail(old, new) for old, new in pairs] == [True] * len(pairs)


async def test_a_type_change_is_written_as_expand_then_contract(
    scratch_url: URL, versions: Path
) -> None:
    expand, contract = await write_pair(scratch_url, versions)
    assert expand.name.endswith("_widen_year_expand.py")
    assert contract.name.endswith("_widen_year_contract.py")
    up = expand.read_text().split("def downgrade")[0]
    assert 'phase = "expand"' in up
    assert "alter_column" not in up
    assert f"sa.Column('{YEAR}_tfsync_new', sa.BigInteger(), nullable=True)" in up.replace('"', "'")
    assert f"CREATE INDEX CONCURRENTLY {YEAR_INDEX}_tfsync_new ON" in up
    assert "CHECK (status_tfsync_new IS NOT NULL) NOT VALID" in up
    assert f"{YEAR}_tfsync_new = CAST({YEAR} AS BIGINT)" in up
    assert "status_tfsync_new = CAST(status AS text)" in up
    body = contract.read_text().split("def downgrade")[0]
    assert 'phase = "contract"' in body
    assert f"RENAME COLUMN {YEAR}_tfsync_new TO {YEAR}" in body
    assert f"ALTER INDEX {YEAR_INDEX}_tfsync_new RENAME TO {YEAR_INDEX}" in body
    assert f"VALIDATE CONSTRAINT {STATUS_CHECK}" in body
    assert "SET DEFAULT 'PENDING'" in body
    marker = {f"{TABLE}.{YEAR}": f"{YEAR}_tfsync_new", "report_jobs.status": "status_tfsync_new"}
    assert runpy.run_path(str(expand))["retypes"] == marker
    assert runpy.run_path(str(contract))["retypes"] == marker
    state = await migrations.status(scratch_url, config(versions))
    assert [state.phase(s) for s in state.pending] == ["expand", "contract"]


async def test_expand_rewrites_nothing_and_both_columns_stay_in_step(
    scratch_url: URL, versions: Path
) -> None:
    await write_pair(scratch_url, versions, 500)
    cfg = config(versions)
    before = await filenode(scratch_url)
    expanded = await migrations.upgrade(scratch_url, cfg=cfg)
    assert len(expanded.applied) == 1
    assert "1 contract revision(s) wait" in expanded.summary()
    assert await filenode(scratch_url) == before  # no rewrite
    assert await rows(
        scratch_url,
        f"SELECT count(*) FROM {TABLE} WHERE {YEAR}_tfsync_new IS DISTINCT FROM {YEAR}",
    ) == [(0,)]
    assert await rows(
        scratch_url,
        f"SELECT indisvalid FROM pg_index WHERE indexrelid = '{YEAR_INDEX}_tfsync_new'::regclass",
    ) == [(True,)]
    await execute(
        scratch_url,
        f"INSERT INTO {TABLE} (property_id, parcel_number, county_id, {YEAR}, created_at,"
        " updated_at) VALUES ('old', 'x-old', 'benton', 2030, now(), now())",
        f"INSERT INTO {TABLE} (property_id, parcel_number, county_id, {YEAR}_tfsync_new,"
        " created_at, updated_at) VALUES ('new', 'x-new', 'benton', 2031, now(), now())",
        f"UPDATE {TABLE} SET {YEAR} = 1999 WHERE property_id = 'p1'",
        f"UPDATE {TABLE} SET {YEAR}_tfsync_new = 1998 WHERE property_id = 'p2'",
        f"UPDATE {TABLE} SET city = 'Pasco' WHERE property_id = 'p3'",
    )
    assert await rows(
        scratch_url,
        f"SELECT property_id, {YEAR}, {YEAR}_tfsync_new FROM {TABLE}"
        " WHERE property_id IN ('old', 'new', 'p1', 'p2', 'p3') ORDER BY property_id",
    ) == [
        ("new", 2031, 2031),
        ("old", 2030, 2030),
        ("p1", 1999, 1999),
        ("p2", 1998, 1998),
        ("p3", 2003, 2003),
    ]
    # a value the new type cannot hold fails from the expand on, as after the change
    with pytest.raises(Exception, match="too long"):
        await execute(scratch_url, "UPDATE report_jobs SET status = 'x' || repeat('y', 20)")
    # between the phases the models and the database do not differ
    with pytest.raises(MigrationError, match="do not differ"):
        await migrations.revision(scratch_url, "nothing", cfg=cfg)
    state = await migrations.status(scratch_url, cfg)
    left_alone = [p for s in state.waiting for p in phases.left_alone(s)]
    assert await migrations.compare_models(scratch_url, retyped(), left_alone) == []


async def test_an_index_build_that_times_out_is_retried_over_what_it_left(
    scratch_url: URL, versions: Path
) -> None:
    """A concurrent index build waits for every older snapshot, under the revision's
    lock_timeout; its autocommit block has committed the new column and the trigger. The
    runner's retry runs the expand again over them and over the invalid index left."""
    await write_pair(scratch_url, versions, 50)
    done, _ = await upgrade_past_an_old_snapshot(scratch_url, config(versions))
    assert len(done.applied) == 1
    assert await rows(
        scratch_url,
        "SELECT c.relname::text, i.indisvalid FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE '%tfsync_new'"
        " ORDER BY 1",
    ) == [(f"{YEAR_INDEX}_tfsync_new", True), (f"{STATUS_INDEX}_tfsync_new", True)]
    assert await rows(
        scratch_url,
        f"SELECT count(*) FROM {TABLE} WHERE {YEAR}_tfsync_new IS DISTINCT FROM {YEAR}",
    ) == [(0,)]


async def test_contract_gives_the_column_its_new_type_index_and_not_null(
    scratch_url: URL, versions: Path
) -> None:
    await write_pair(scratch_url, versions, 300)
    cfg = config(versions)
    await migrations.upgrade(scratch_url, cfg=cfg)
    before = await filenode(scratch_url)
    # no "old code gone" proof for a type change: the default quiet period does not apply
    contracted = await migrations.upgrade(scratch_url, cfg=cfg, contract=True)
    assert len(contracted.applied) == 1
    assert await filenode(scratch_url) == before
    assert await column_types(scratch_url) == [
        (TABLE, YEAR, "bigint", "YES"),
        ("report_jobs", "status", "character varying", "NO"),
    ]
    assert await rows(
        scratch_url,
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
        f" WHERE indexrelid IN ('{YEAR_INDEX}'::regclass, '{STATUS_INDEX}'::regclass) ORDER BY 1",
    ) == [
        (YEAR_INDEX, f"CREATE INDEX {YEAR_INDEX} ON public.{TABLE} USING btree ({YEAR})"),
        (
            STATUS_INDEX,
            f"CREATE INDEX {STATUS_INDEX} ON public.report_jobs USING btree (county_id, status)",
        ),
    ]
    assert await rows(scratch_url, f"SELECT sum({YEAR}), count(DISTINCT {YEAR}) FROM {TABLE}") == [
        (sum(2000 + g % 25 for g in range(1, 301)), 25)
    ]
    assert await rows(
        scratch_url, "SELECT count(*) FROM report_jobs WHERE status LIKE 'DONE-%'"
    ) == [(300,)]
    await execute(scratch_url, f"UPDATE {TABLE} SET {YEAR} = 5000000000 WHERE property_id = 'p1'")
    await execute(
        scratch_url,
        "INSERT INTO report_jobs (report_id, report_type, county_id) VALUES ('d', 'roll', 'b')",
    )
    assert await rows(scratch_url, "SELECT status FROM report_jobs WHERE report_id = 'd'") == [
        ("PENDING",)
    ]
    assert await migrations.compare_models(scratch_url, retyped()) == []
    assert await rows(
        scratch_url, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'tfsync_keep%retype'"
    ) == [(0,)]


async def test_each_half_downgrades_to_where_it_started(scratch_url: URL, versions: Path) -> None:
    await write_pair(scratch_url, versions, 50)
    cfg = config(versions)
    started = await column_types(scratch_url)
    await migrations.upgrade(scratch_url, cfg=cfg)
    expanded = await column_types(scratch_url)
    await migrations.upgrade(scratch_url, cfg=cfg, contract=True)
    await migrations.downgrade(scratch_url, "-1", cfg=cfg)  # the contract
    assert await column_types(scratch_url) == expanded
    assert await rows(
        scratch_url, f"SELECT count(*) FROM {TABLE} WHERE {YEAR} IS DISTINCT FROM {YEAR}_tfsync_new"
    ) == [(0,)]
    await execute(scratch_url, f"UPDATE {TABLE} SET {YEAR} = 1990 WHERE property_id = 'p1'")
    assert await rows(
        scratch_url, f"SELECT {YEAR}_tfsync_new FROM {TABLE} WHERE property_id = 'p1'"
    ) == [(1990,)]
    await migrations.downgrade(scratch_url, "-1", cfg=cfg, allow_data_loss=True)  # the expand
    assert await column_types(scratch_url) == started
    assert await rows(scratch_url, f"SELECT to_regclass('{YEAR_INDEX}')::text") == [(YEAR_INDEX,)]
    assert await rows(
        scratch_url, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'tfsync_keep%retype'"
    ) == [(0,)]
    await migrations.upgrade(scratch_url, "heads", cfg=cfg)  # and up again, as the stairway
    assert await column_types(scratch_url) == [
        (TABLE, YEAR, "bigint", "YES"),
        ("report_jobs", "status", "character varying", "NO"),
    ]


async def test_a_change_that_never_rewrites_stays_one_ordinary_revision(
    scratch_url: URL, versions: Path
) -> None:
    metadata = retyped(**{f"{TABLE}.city": sa.String(200)})
    cfg = config(versions, metadata)
    await migrations.upgrade(scratch_url, cfg=cfg)
    (written,) = await migrations.revision(scratch_url, "longer city", cfg=cfg)
    text = written.read_text()
    assert "op.alter_column(" in text
    assert "phase =" not in text
    assert "retypes" not in text


async def test_a_value_the_new_type_cannot_hold_stops_the_expand_before_any_change(
    scratch_url: URL, versions: Path
) -> None:
    """Read through the cast first: the trigger, once in place, would refuse every write to
    such a row (old code's included) while the backfill failed on it."""
    await write_pair(scratch_url, versions, 10)
    long_status = "WAITING-FOR-THE-COUNTY-FEED"  # 27 characters: VARCHAR(16) cannot hold it
    await execute(
        scratch_url, f"UPDATE report_jobs SET status = '{long_status}' WHERE report_id = 'r3'"
    )
    before = await column_types(scratch_url)

    with pytest.raises(MigrationError) as stopped:
        await migrations.upgrade(scratch_url, cfg=config(versions))
    assert "values of report_jobs.status are longer than 16 characters" in str(stopped.value)
    assert await column_types(scratch_url) == before  # no column, no trigger: nothing changed
    assert await rows(
        scratch_url, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'tfsync_keep%'"
    ) == [(0,)]
    await execute(scratch_url, "UPDATE report_jobs SET status = 'WAITING' WHERE report_id = 'r3'")

    await migrations.upgrade(scratch_url, cfg=config(versions))  # fixed: the expand runs
    assert (TABLE, f"{YEAR}_tfsync_new", "bigint", "YES") in await column_types(scratch_url)


@pytest.mark.parametrize(
    ("column", "type_", "why"),
    [
        ("parcel_number", sa.String(32), "unique constraint uq_property_operational_county_id"),
        ("sync_status", sa.String(16), "view county_sync_status"),
        ("id", sa.BigInteger(), "primary key pk_property_operational"),
    ],
)
async def test_a_column_the_pair_cannot_carry_is_refused_and_nothing_written(
    scratch_url: URL, versions: Path, column: str, type_: Any, why: str
) -> None:
    cfg = config(versions, retyped(**{f"{TABLE}.{column}": type_}))
    await migrations.upgrade(scratch_url, cfg=cfg)
    before = sorted(versions.glob("*.py"))
    with pytest.raises(MigrationError) as refused:
        await migrations.revision(scratch_url, "retype", cfg=cfg)
    message = str(refused.value)
    assert f"{TABLE}.{column} changes type" in message
    assert why in message
    assert "nothing was written" in message
    assert "ARGS=--empty" in message
    assert sorted(versions.glob("*.py")) == before


async def writer(url: URL, tag: str, values: list[int], stop: asyncio.Event) -> list[str]:
    """One instance of the application writing ``assessment_year`` (insert and update),
    cycling through ``values``, until ``stop``; the errors it met."""
    from terrafusion_sync.database import connect

    errors: list[str] = []
    writes = 0
    async with connect(url) as conn:
        while not stop.is_set():
            value = values[writes % len(values)]
            try:
                await conn.execute(
                    sa.text(
                        f"INSERT INTO {TABLE} (property_id, parcel_number, county_id, {YEAR},"
                        " created_at, updated_at) VALUES (:id, :id, 'benton', :v, now(), now())"
                    ),
                    {"id": f"{tag}-{writes}", "v": value},
                )
                await conn.execute(
                    sa.text(f"UPDATE {TABLE} SET {YEAR} = :v WHERE property_id = :id"),
                    {"id": f"p{writes % 200 + 1}", "v": value},
                )
                await conn.commit()
            except Exception as exc:  # a failed write is what is counted
                await conn.rollback()
                errors.append(str(exc).splitlines()[0])
            writes += 1
            await asyncio.sleep(0.005)
    return errors


async def test_two_writers_through_expand_backfill_and_contract(
    scratch_url: URL, versions: Path
) -> None:
    await write_pair(scratch_url, versions, 2000)
    cfg = config(versions)
    small, big = asyncio.Event(), asyncio.Event()
    old = asyncio.create_task(writer(scratch_url, "old", [2001, 2002, 2003], small))
    new_stop = asyncio.Event()
    new = asyncio.create_task(writer(scratch_url, "new", [2024, 2025], new_stop))
    await asyncio.sleep(0.3)
    assert len((await migrations.upgrade(scratch_url, cfg=cfg)).applied) == 1  # and backfill
    await asyncio.sleep(0.3)
    assert len((await migrations.upgrade(scratch_url, cfg=cfg, contract=True)).applied) == 1
    # after the contract the new code writes what only the new type holds
    newer = asyncio.create_task(writer(scratch_url, "big", [3_000_000_000], big))
    await asyncio.sleep(0.3)
    for stop in (small, new_stop, big):
        stop.set()
    assert await old == []
    assert await new == []
    assert await newer == []
    assert await rows(
        scratch_url,
        f"SELECT count(*) FILTER (WHERE {YEAR} IS NULL), count(*) FILTER (WHERE {YEAR} >"
        f" 2147483647) > 0 FROM {TABLE}",
    ) == [(0, True)]
    assert await column_types(scratch_url) == [
        (TABLE, YEAR, "bigint", "YES"),
        ("report_jobs", "status", "character varying", "NO"),
    ]


async def test_the_review_passes_the_type_change_pair(
    scratch_url: URL, test_database_url: URL, versions: Path
) -> None:
    from terrafusion_sync.review import review

    await write_pair(scratch_url, versions)
    done = await review(test_database_url, cfg=config(versions), lint=False)
    assert [f.render() for f in done.findings] == []
    assert done.revisions == len(CHAIN) + 2  # the project's, the expand, the contract
