"""README "Zero-downtime changes": a rename written as expand + contract, run in two phases."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import MetaData
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.core_models import Base
from terrafusion_sync.errors import MigrationError

from helpers import CHAIN, cli, execute, rows, upgrade_past_an_old_snapshot

pytestmark = pytest.mark.asyncio(loop_scope="session")

TABLE = "property_operational"
RENAME = f"{TABLE}.parcel_number=parcel_no"


def renamed(old: str = "parcel_number", new: str = "parcel_no") -> MetaData:
    """The models with ``parcel_number`` renamed to ``parcel_no``: still NOT NULL, still
    unique with ``county_id`` (or another column ``old`` renamed ``new``, keeping its type)."""
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        if table.name != TABLE:
            table.to_metadata(metadata)
            continue
        columns = [
            sa.Column(new, c.type, nullable=c.nullable) if c.name == old else c._copy()
            for c in table.columns
        ]
        parcel = new if old == "parcel_number" else "parcel_number"
        sa.Table(
            TABLE,
            metadata,
            *columns,
            sa.UniqueConstraint("county_id", parcel),
            sa.Index(f"ix_{TABLE}_county_id_sync_status", "county_id", "sync_status"),
        )
    return metadata


async def fill(url: URL, count: int) -> None:
    """``count`` rows in the table, each with its own parcel number."""
    await execute(
        url,
        f"INSERT INTO {TABLE} (property_id, parcel_number, county_id, created_at, updated_at)"
        f" SELECT 'p' || g, 'parcel-' || g, 'benton', now(), now()"
        f" FROM generate_series(1, {count}) AS g",
    )


async def write_pair(url: URL, versions: Path, count: int = 0) -> list[Path]:
    """Upgrade ``url`` to head, put ``count`` rows in, write the rename's pair; its files."""
    cfg = migrations.alembic_config(versions_dir=versions, target_metadata=renamed())
    await migrations.upgrade(url, cfg=cfg)
    await fill(url, count)
    return await migrations.revision(url, "rename parcel number", cfg=cfg, renames=[RENAME])


def config(versions: Path) -> object:
    return migrations.alembic_config(versions_dir=versions, target_metadata=renamed())


async def test_a_rename_is_written_as_expand_then_contract(
    scratch_url: URL, versions: Path
) -> None:
    expand, contract = await write_pair(scratch_url, versions)
    assert expand.name.endswith("_rename_parcel_number_expand.py")
    assert contract.name.endswith("_rename_parcel_number_contract.py")
    up = expand.read_text()
    assert 'phase = "expand"' in up
    assert "drop_column" not in up.split("def downgrade")[0]
    assert "CREATE OR REPLACE TRIGGER" in up
    assert "op.backfill(" in up
    down = contract.read_text()
    assert 'phase = "contract"' in down
    assert 'retires = {"property_operational.parcel_number": "parcel_no"}' in down
    state = await migrations.status(scratch_url, config(versions))
    assert [state.phase(s) for s in state.pending] == ["expand", "contract"]


async def test_upgrade_leaves_the_contract_waiting_and_keeps_both_columns_in_step(
    scratch_url: URL, versions: Path
) -> None:
    expand, contract = await write_pair(scratch_url, versions, 500)
    outcome = await migrations.upgrade(scratch_url, cfg=config(versions))
    assert outcome.applied == [expand.name.split("-")[1].split("_")[0]]
    assert "1 contract revision(s) wait" in outcome.summary()
    assert "make contract" in outcome.summary()
    # the backfill copied every existing value
    assert await rows(scratch_url, f"SELECT count(*) FROM {TABLE} WHERE parcel_no IS NULL") == [
        (0,)
    ]
    # old code writes the old column only, new code the new one: each sees the other's write
    await execute(
        scratch_url,
        f"INSERT INTO {TABLE} (property_id, parcel_number, county_id, created_at, updated_at)"
        " VALUES ('old', 'from-old', 'benton', now(), now())",
        f"INSERT INTO {TABLE} (property_id, parcel_no, county_id, created_at, updated_at)"
        " VALUES ('new', 'from-new', 'benton', now(), now())",
        f"UPDATE {TABLE} SET parcel_number = 'old-edit' WHERE property_id = 'p1'",
        f"UPDATE {TABLE} SET parcel_no = 'new-edit' WHERE property_id = 'p2'",
    )
    assert await rows(
        scratch_url,
        f"SELECT property_id, parcel_number, parcel_no FROM {TABLE}"
        " WHERE property_id IN ('old', 'new', 'p1', 'p2') ORDER BY property_id",
    ) == [
        ("new", "from-new", "from-new"),
        ("old", "from-old", "from-old"),
        ("p1", "old-edit", "old-edit"),
        ("p2", "new-edit", "new-edit"),
    ]
    state = await migrations.status(scratch_url, config(versions))
    assert [s.revision for s in state.waiting] == [contract.name.split("-")[1].split("_")[0]]


async def test_an_expand_whose_index_build_timed_out_runs_again_over_what_it_left(
    scratch_url: URL, versions: Path
) -> None:
    """The unique index on the new column is built CONCURRENTLY, which commits the new column
    and the trigger first and then waits for every older snapshot under lock_timeout: the
    runner's retry runs the expand again over them and over the invalid index left."""
    await write_pair(scratch_url, versions, 20)
    done, _ = await upgrade_past_an_old_snapshot(scratch_url, config(versions))
    assert len(done.applied) == 1
    assert await rows(
        scratch_url,
        "SELECT count(*), bool_and(i.indisvalid) FROM pg_index i"
        f" WHERE i.indrelid = '{TABLE}'::regclass AND EXISTS (SELECT FROM pg_attribute a"
        " WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) AND a.attname = 'parcel_no')",
    ) == [(1, True)]
    assert await rows(
        scratch_url, f"SELECT count(*) FROM {TABLE} WHERE parcel_no IS DISTINCT FROM parcel_number"
    ) == [(0,)]


async def test_contract_is_refused_while_old_code_writes_then_runs_when_quiet(
    scratch_url: URL, versions: Path
) -> None:
    await write_pair(scratch_url, versions, 10)
    await migrations.upgrade(scratch_url, cfg=config(versions))
    await execute(scratch_url, f"UPDATE {TABLE} SET parcel_number = 'x' WHERE property_id = 'p3'")
    quiet = migrations.Timeouts(contract_quiet="15min")
    with pytest.raises(MigrationError) as refused:
        await migrations.upgrade(scratch_url, cfg=config(versions), contract=True, limits=quiet)
    message = str(refused.value)
    assert "property_operational.parcel_number was last written through the old column" in message
    assert "TFSYNC_CONTRACT_QUIET 15min" in message
    assert "nothing was changed" in message
    assert await rows(
        scratch_url,
        "SELECT count(*) FROM information_schema.columns WHERE column_name = 'parcel_number'",
    ) == [(1,)]

    # no old-path write for the quiet period (1 s here): the contract runs
    await asyncio.sleep(1.2)
    done = await migrations.upgrade(
        scratch_url,
        cfg=config(versions),
        contract=True,
        limits=migrations.Timeouts(contract_quiet="1s"),
    )
    assert len(done.applied) == 1
    assert not done.waiting
    columns = await rows(
        scratch_url,
        "SELECT column_name, is_nullable FROM information_schema.columns"
        f" WHERE table_name = '{TABLE}' AND column_name LIKE 'parcel%'",
    )
    assert columns == [("parcel_no", "NO")]


async def test_a_forced_contract_is_recorded_in_the_history(
    scratch_url: URL, versions: Path
) -> None:
    await write_pair(scratch_url, versions)
    await migrations.upgrade(scratch_url, cfg=config(versions))  # just expanded: not quiet yet
    done = await migrations.upgrade(scratch_url, cfg=config(versions), contract=True, force=True)
    history = await migrations.read_history(scratch_url, None)
    contract = next(e for e in history if e.revision == done.applied[-1])
    assert contract.note is not None
    assert contract.note.startswith("contract forced: property_operational.parcel_number")


async def test_a_revision_written_after_a_waiting_contract_applies_with_upgrade(
    scratch_url: URL, versions: Path
) -> None:
    await write_pair(scratch_url, versions)
    cfg = config(versions)
    await migrations.upgrade(scratch_url, cfg=cfg)
    # the models and the database differ only by the old column the contract will drop:
    # that is no change (point 5), so the next model change is written on its own
    later = renamed()
    later.tables[TABLE].append_column(sa.Column("owner_email", sa.String(255), nullable=True))
    cfg = migrations.alembic_config(versions_dir=versions, target_metadata=later)
    (written,) = await migrations.revision(scratch_url, "add owner email", cfg=cfg)
    assert "parcel_number" not in written.read_text()
    applied = await migrations.upgrade(scratch_url, cfg=cfg)
    assert applied.applied == [written.name.split("-")[1].split("_")[0]]
    assert len(applied.waiting) == 1
    everything = await migrations.upgrade(scratch_url, cfg=cfg, contract=True, force=True)
    assert everything.waiting == ()
    assert await migrations.compare_models(scratch_url, later) == []


async def test_status_json_gives_each_pending_revision_its_phase(
    scratch_url: URL,
    versions: Path,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await write_pair(scratch_url, versions)
    capsys.readouterr()  # what writing the files printed
    code, out, _ = cli(env, capsys, scratch_url, "status", "--format", "json", versions=versions)
    assert code == 0
    pending = json.loads(out)["pending"]
    assert [(p["message"], p["phase"]) for p in pending] == [
        ("rename parcel number expand", "expand"),
        ("rename parcel number contract", "contract"),
    ]


async def test_without_a_terminal_a_possible_rename_is_refused_and_nothing_written(
    scratch_url: URL, versions: Path
) -> None:
    cfg = config(versions)
    await migrations.upgrade(scratch_url, cfg=cfg)
    before = sorted(versions.glob("*.py"))
    with pytest.raises(MigrationError) as refused:
        await migrations.revision(scratch_url, "rename parcel number", cfg=cfg)
    assert "--rename property_operational.parcel_number=parcel_no" in str(refused.value)
    assert "nothing was written" in str(refused.value)
    assert sorted(versions.glob("*.py")) == before


async def test_on_a_terminal_the_rename_is_asked_and_a_no_writes_drop_and_add(
    scratch_url: URL, versions: Path
) -> None:
    cfg = config(versions)
    await migrations.upgrade(scratch_url, cfg=cfg)
    asked: list[str] = []

    def no(question: str) -> bool:
        asked.append(question)
        return False

    # the unique constraint on (county_id, parcel_no) is new on a live table: it comes as a
    # pair (its index built concurrently), but the column is dropped and added, unrenamed
    expand, _ = await migrations.revision(scratch_url, "replace parcel number", cfg=cfg, ask=no)
    assert asked == [
        "Did you rename property_operational.parcel_number -> property_operational.parcel_no"
        " (VARCHAR(64))?"
    ]
    text = expand.read_text()
    assert 'op.drop_column("property_operational", "parcel_number")' in text
    assert "CREATE TRIGGER" not in text
    assert "retires" not in text


@pytest.mark.parametrize(
    ("rename", "expected"),
    [
        ("property_operational.parcel=parcel_no", "no column property_operational.parcel dropped"),
        ("nosuchtable.parcel_number=parcel_no", "no column nosuchtable.parcel_number dropped"),
        ("property_operational.parcel_number=parcel", "no property_operational.parcel added"),
        ("parcel_number=parcel_no", "is not TABLE.OLD=NEW"),
    ],
)
async def test_a_rename_naming_what_does_not_exist_is_refused_and_nothing_written(
    scratch_url: URL, versions: Path, rename: str, expected: str
) -> None:
    cfg = config(versions)
    await migrations.upgrade(scratch_url, cfg=cfg)
    before = sorted(versions.glob("*.py"))
    with pytest.raises(MigrationError, match=expected):
        await migrations.revision(scratch_url, "rename", cfg=cfg, renames=[rename])
    assert sorted(versions.glob("*.py")) == before


async def test_a_rename_whose_types_cannot_be_kept_in_step_is_refused(
    scratch_url: URL, versions: Path
) -> None:
    metadata = renamed()
    table = metadata.tables[TABLE]
    table.append_column(sa.Column("built", sa.Date(), nullable=True))
    table._columns.remove(table.c.year_built)
    cfg = migrations.alembic_config(versions_dir=versions, target_metadata=metadata)
    await migrations.upgrade(scratch_url, cfg=cfg)
    before = sorted(versions.glob("*.py"))
    with pytest.raises(MigrationError, match="INTEGER and DATE cannot be kept in step"):
        await migrations.revision(
            scratch_url,
            "rename",
            cfg=cfg,
            renames=[RENAME, f"{TABLE}.year_built=built"],
        )
    assert sorted(versions.glob("*.py")) == before


async def writer(url: URL, column: str, tag: str, stop: asyncio.Event) -> tuple[int, float]:
    """One instance of the application: insert and update rows through ``column`` only,
    one statement at a time, until ``stop``; how many writes and the longest one (s)."""
    from time import perf_counter

    from terrafusion_sync.database import connect

    writes, longest = 0, 0.0
    async with connect(url) as conn:
        while not stop.is_set():
            started = perf_counter()
            await conn.execute(
                sa.text(
                    f"INSERT INTO {TABLE} (property_id, {column}, county_id, created_at,"
                    " updated_at) VALUES (:id, :value, 'benton', now(), now())"
                ),
                {"id": f"{tag}-{writes}", "value": f"{tag}-{writes}"},
            )
            await conn.execute(
                sa.text(f"UPDATE {TABLE} SET {column} = :value WHERE property_id = :id"),
                {"id": f"p{writes % 200 + 1}", "value": f"{tag}-edit-{writes}"},
            )
            await conn.commit()
            longest = max(longest, perf_counter() - started)
            writes += 1
            await asyncio.sleep(0.005)
    return writes, longest


async def test_two_writers_old_and_new_through_expand_backfill_and_contract(
    scratch_url: URL, versions: Path
) -> None:
    await write_pair(scratch_url, versions, 2000)
    cfg = config(versions)
    stop_old, stop_new = asyncio.Event(), asyncio.Event()
    old = asyncio.create_task(writer(scratch_url, "parcel_number", "old", stop_old))
    await asyncio.sleep(0.2)
    expanded = await migrations.upgrade(scratch_url, cfg=cfg)  # the new column appears
    assert len(expanded.applied) == 1
    new = asyncio.create_task(writer(scratch_url, "parcel_no", "new", stop_new))
    await asyncio.sleep(0.5)  # both versions of the application write
    with pytest.raises(MigrationError, match="contract refused"):
        await migrations.upgrade(scratch_url, cfg=cfg, contract=True)
    stop_old.set()  # the last old instance is retired
    old_writes, _ = await old
    await asyncio.sleep(1.1)
    quiet = migrations.Timeouts(contract_quiet="1s")
    contracted = await migrations.upgrade(scratch_url, cfg=cfg, contract=True, limits=quiet)
    assert len(contracted.applied) == 1
    await asyncio.sleep(0.2)  # the new code goes on writing after the contract
    stop_new.set()
    new_writes, _ = await new
    assert old_writes > 0
    assert new_writes > 0
    # every write of either version is in the new column
    assert await rows(
        scratch_url,
        f"SELECT count(*) FROM {TABLE} WHERE property_id LIKE 'old-%' AND parcel_no = property_id",
    ) == [(old_writes,)]
    assert await rows(
        scratch_url,
        f"SELECT count(*) FROM {TABLE} WHERE property_id LIKE 'new-%' AND parcel_no = property_id",
    ) == [(new_writes,)]
    assert await rows(scratch_url, f"SELECT count(*) FROM {TABLE} WHERE parcel_no IS NULL") == [
        (0,)
    ]


async def test_the_review_passes_the_pair_and_walks_both_branches(
    scratch_url: URL, test_database_url: URL, versions: Path
) -> None:
    from terrafusion_sync.review import review

    await write_pair(scratch_url, versions)
    done = await review(test_database_url, cfg=config(versions), lint=False)
    assert [f.render() for f in done.findings] == []
    assert done.revisions == len(CHAIN) + 2  # the project's, the expand, the contract


async def test_the_review_finds_a_destructive_expand_and_a_contract_without_expand(
    scratch_url: URL, test_database_url: URL, versions: Path
) -> None:
    from terrafusion_sync.review import review

    expand, contract = await write_pair(scratch_url, versions)
    # a hand-written expand that also drops a column, and a contract with no expand before it
    text = expand.read_text()
    expand.write_text(
        text.replace(
            "    op.add_column(",
            '    op.drop_column("report_jobs", "message")\n    op.add_column(',
            1,
        ).replace(
            "    op.drop_column(",
            '    op.add_column("report_jobs", sa.Column("message", sa.Text()))\n'
            "    op.drop_column(",
            1,
        )
    )
    done = await review(test_database_url, cfg=config(versions), lint=False)
    codes = {(f.code, Path(f.path).name) for f in done.findings}
    assert ("TF420", expand.name) in codes
    stray = contract.read_text().replace(
        f'down_revision: str | Sequence[str] | None = "{expand.name.split("-")[1].split("_")[0]}"',
        'down_revision: str | Sequence[str] | None = "0b22f05953e4"',
    )
    expand.unlink()
    contract.write_text(stray)
    done = await review(test_database_url, cfg=config(versions), lint=False)
    assert "TF421" in {f.code for f in done.findings}


async def test_an_upgrade_dropping_a_column_with_data_is_refused_outside_a_contract(
    scratch_url: URL, versions: Path
) -> None:
    # what a new user did: the renamed model column written as drop + add, answered "no"
    metadata = renamed("property_class", "property_kind")
    cfg = migrations.alembic_config(versions_dir=versions, target_metadata=metadata)
    await migrations.upgrade(scratch_url, cfg=cfg)
    await fill(scratch_url, 300)
    await execute(scratch_url, f"UPDATE {TABLE} SET property_class = 'residential'")
    await migrations.revision(scratch_url, "replace class", cfg=cfg, ask=lambda _: False)
    cfg = migrations.alembic_config(versions_dir=versions, target_metadata=metadata)
    with pytest.raises(MigrationError) as refused:
        await migrations.upgrade(scratch_url, cfg=cfg)
    assert "would drop column property_operational.property_class (300 values)" in str(
        refused.value
    )
    assert "upgrade --allow-data-loss" in str(refused.value)
    assert await rows(scratch_url, f"SELECT count(property_class) FROM {TABLE}") == [(300,)]
    done = await migrations.upgrade(scratch_url, cfg=cfg, allow_data_loss=True)
    assert len(done.applied) == 1


async def test_the_plan_says_what_an_upgrade_destroys_and_what_waits(
    scratch_url: URL, versions: Path
) -> None:
    metadata = renamed("property_class", "property_kind")
    cfg = migrations.alembic_config(versions_dir=versions, target_metadata=metadata)
    await migrations.upgrade(scratch_url, cfg=cfg)
    await fill(scratch_url, 40)
    await execute(scratch_url, f"UPDATE {TABLE} SET property_class = 'farm' WHERE id % 2 = 0")
    await migrations.revision(scratch_url, "replace class", cfg=cfg, ask=lambda _: False)
    cfg = migrations.alembic_config(versions_dir=versions, target_metadata=metadata)
    plan = await migrations.plan(scratch_url, cfg=cfg)
    (planned,) = plan.revisions
    assert [d.describe() for d in planned.destroys] == [
        "column property_operational.property_class (20 values)"
    ]
    assert any("destroys: column" in line for line in plan.describe_lines("db", "head"))


async def test_the_plan_runs_the_expand_and_says_the_contract_waits(
    scratch_url: URL, versions: Path
) -> None:
    expand, contract = await write_pair(scratch_url, versions, 30)
    plan = await migrations.plan(scratch_url, cfg=config(versions))
    assert [p.script.path for p in plan.revisions] == [str(expand)]
    assert plan.revisions[0].destroys == []
    (waits,) = plan.waiting
    assert contract.name.split("-")[1].startswith(waits)
    assert "1 contract revision(s) wait for `make contract`" in plan.describe_lines("db", "head")[1]


async def test_a_row_the_backfill_has_not_reached_can_be_updated_by_any_code(
    scratch_url: URL, versions: Path
) -> None:
    await write_pair(scratch_url, versions, 20)
    # the expand's schema change alone, its backfill not yet run: as between two batches
    cfg = config(versions)
    script = migrations.script_directory(cfg)
    expand_id = next(
        s.revision for s in script.walk_revisions() if s.module.__dict__.get("phase") == "expand"
    )
    await migrations.upgrade(scratch_url, expand_id, cfg=cfg)
    # p5 as the backfill has not reached it yet (the row was there before the expand)
    check = f"ck_{TABLE}_parcel_no_not_null"
    await execute(
        scratch_url,
        f"ALTER TABLE {TABLE} DISABLE TRIGGER tfsync_keep_{TABLE}_parcel_no",
        f"ALTER TABLE {TABLE} DROP CONSTRAINT {check}",
        f"UPDATE {TABLE} SET parcel_no = NULL WHERE property_id = 'p5'",
        f"ALTER TABLE {TABLE} ADD CONSTRAINT {check} CHECK (parcel_no IS NOT NULL) NOT VALID",
        f"ALTER TABLE {TABLE} ENABLE TRIGGER tfsync_keep_{TABLE}_parcel_no",
    )
    # code that touches neither column updates the row: the NOT NULL check does not fail
    await execute(scratch_url, f"UPDATE {TABLE} SET city = 'Kennewick' WHERE property_id = 'p5'")
    assert await rows(scratch_url, f"SELECT parcel_no FROM {TABLE} WHERE property_id = 'p5'") == [
        ("parcel-5",)
    ]


async def test_the_test_database_applies_the_contract_too(
    scratch_url: URL, test_database_url: URL, versions: Path
) -> None:
    await write_pair(scratch_url, versions)
    cfg = config(versions)
    target = test_database_url.set(database=f"{scratch_url.database}_t")
    try:
        prepared = await migrations.prepare_test_database(target, cfg=cfg)
        assert prepared.rebuilt
        heads = set(migrations.script_directory(cfg).get_heads())
        assert set(await migrations.current_revisions(target, cfg)) == heads
    finally:
        from terrafusion_sync.migrations.testdb import drop_test_databases

        await drop_test_databases(target)
