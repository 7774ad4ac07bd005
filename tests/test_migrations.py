"""The migrations core on scratch databases: round trip, status, SQL, autogenerate, drift."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection

from terrafusion_sync import migrations
from terrafusion_sync.database import connect
from terrafusion_sync.errors import MigrationError
from terrafusion_sync.migrations.sql import alembic_output
from terrafusion_sync.review import review
from terrafusion_sync.review.codes import ONLY_IN_MODELS

from helpers import APP_TABLES, CHAIN, HEAD, models, project_copy, rows, run_process, tables

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_upgrade_downgrade_upgrade_round_trip(scratch_url: URL) -> None:
    heads = (await migrations.status(scratch_url)).heads
    reports: list[str] = []

    applied = (await migrations.upgrade(scratch_url, report=reports.append)).applied
    assert await tables(scratch_url) == APP_TABLES
    assert (await migrations.status(scratch_url)).current == heads
    assert len(reports) == len(applied) >= 1
    assert all(line.strip().startswith("upgraded") and line.endswith(" s)") for line in reports)

    await migrations.downgrade(scratch_url, "base")
    assert await tables(scratch_url) == set()
    assert (await migrations.status(scratch_url)).current == ()

    await migrations.upgrade(scratch_url)
    assert await tables(scratch_url) == APP_TABLES


async def test_status_lists_pending_revisions_oldest_first(scratch_url: URL) -> None:
    state = await migrations.status(scratch_url)
    assert state.current == ()
    assert not state.at_head
    assert state.pending[-1].revision == state.heads[0]
    assert state.pending[0].down_revision is None


async def test_sql_preview_changes_nothing(scratch_url: URL) -> None:
    sql = await migrations.upgrade_sql(scratch_url, "head")
    assert "CREATE TABLE property_operational" in sql
    assert "CREATE TABLE alembic_version" in sql
    assert await tables(scratch_url) == set()
    assert (await migrations.status(scratch_url)).current == ()


async def test_sql_preview_starts_from_the_current_revision(scratch_url: URL) -> None:
    from_empty = await migrations.upgrade_sql(scratch_url, "head")
    assert [revision for revision, _ in alembic_output.split(from_empty)] == list(CHAIN)
    await migrations.upgrade(scratch_url)
    assert alembic_output.split(await migrations.upgrade_sql(scratch_url, "head")) == []


async def test_unknown_revision_is_refused_and_changes_nothing(scratch_url: URL) -> None:
    with pytest.raises(MigrationError, match="Can't locate revision"):
        await migrations.upgrade(scratch_url, "deadbeef0000")
    assert await tables(scratch_url) == set()


async def test_upgrade_and_downgrade_say_what_they_did_and_where_the_database_is(
    scratch_url: URL,
) -> None:
    up = await migrations.upgrade(scratch_url)
    assert up == migrations.Outcome(list(CHAIN), (HEAD,))
    assert up.summary() == f"applied {len(CHAIN)} revision(s); now at {HEAD}"
    down = await migrations.downgrade(scratch_url, "base")
    assert down == migrations.Outcome(list(reversed(CHAIN)), ())
    assert down.summary("undid") == f"undid {len(CHAIN)} revision(s); now at base"
    await migrations.upgrade(scratch_url)
    again = await migrations.upgrade(scratch_url)
    assert again.summary() == f"already at {HEAD}: nothing to do"


@pytest.mark.parametrize("target", ["", " ", "\t\n"])
async def test_downgrade_requires_a_target(scratch_url: URL, target: str) -> None:
    await migrations.upgrade(scratch_url)
    with pytest.raises(MigrationError, match="needs a target"):
        await migrations.downgrade(scratch_url, target)
    assert await tables(scratch_url) == APP_TABLES


async def test_downgrade_target_is_read_without_surrounding_blanks(scratch_url: URL) -> None:
    await migrations.upgrade(scratch_url)
    assert (await migrations.downgrade(scratch_url, " -1 ")).heads == CHAIN[-2:-1]


async def test_revision_refuses_a_database_not_at_head(scratch_url: URL, versions: Path) -> None:
    cfg = migrations.alembic_config(versions_dir=versions)
    before = sorted(p.name for p in versions.glob("*.py"))
    with pytest.raises(MigrationError, match="not at head"):
        await migrations.revision(scratch_url, "too early", cfg=cfg)
    assert sorted(p.name for p in versions.glob("*.py")) == before


async def test_revision_without_changes_writes_nothing(scratch_url: URL, versions: Path) -> None:
    cfg = migrations.alembic_config(versions_dir=versions)
    await migrations.upgrade(scratch_url, cfg=cfg)
    before = sorted(p.name for p in versions.glob("*.py"))
    with pytest.raises(MigrationError, match="do not differ"):
        await migrations.revision(scratch_url, "nothing changed", cfg=cfg)
    assert sorted(p.name for p in versions.glob("*.py")) == before


async def test_autogenerate_detects_a_model_change(scratch_url: URL, versions: Path) -> None:
    changed = models("owner_email")
    cfg = migrations.alembic_config(versions_dir=versions, target_metadata=changed)
    await migrations.upgrade(scratch_url, cfg=cfg)

    drift = await migrations.compare_models(scratch_url, changed)
    assert [(d.side, d.table, d.column) for d in drift] == [
        ("models", "property_operational", "owner_email")
    ]

    (path,) = await migrations.revision(scratch_url, "add owner email", cfg=cfg)
    assert path.parent == versions
    assert path.name.endswith("_add_owner_email.py")
    source = "".join(path.read_text().split())  # formatting may wrap lines
    assert 'op.add_column("property_operational",sa.Column("owner_email"' in source
    assert 'op.drop_column("property_operational","owner_email")' in source

    fresh = migrations.alembic_config(versions_dir=versions, target_metadata=changed)
    await migrations.upgrade(scratch_url, cfg=fresh)
    assert await migrations.compare_models(scratch_url, changed) == []
    await migrations.downgrade(scratch_url, "-1", cfg=fresh)
    assert await migrations.compare_models(scratch_url) == []


async def test_review_names_table_and_column_of_unmigrated_model_change(
    test_database_url: URL,
) -> None:
    cfg = migrations.alembic_config(target_metadata=models("owner_email"))
    done = await review(test_database_url, cfg=cfg, lint=False)
    findings, revisions = done.findings, done.revisions
    assert revisions >= 1
    assert [(f.code, f.path) for f in findings] == [
        ("TF601", "docs/schema.md"),  # and its picture lags behind the models too
        (ONLY_IN_MODELS.code, "terrafusion_sync/core_models.py"),
    ]
    assert "property_operational.owner_email" in findings[1].message


async def test_review_of_the_project_finds_no_drift(test_database_url: URL) -> None:
    findings = (await review(test_database_url, lint=False)).findings
    assert findings == []


async def test_the_core_loads_a_module_only_when_one_of_its_names_is_used() -> None:
    script = (
        "import sys\n"
        "from terrafusion_sync import migrations\n"
        "print('alembic imported:', 'alembic' in sys.modules)\n"
        "for name in migrations.__all__:\n"
        "    getattr(migrations, name)\n"
        "print('alembic imported:', 'alembic' in sys.modules)\n"
    )
    done = await asyncio.to_thread(run_process, [sys.executable, "-c", script])
    assert done.returncode == 0, done.stderr  # every exported name resolves
    assert done.stdout.splitlines() == ["alembic imported: False", "alembic imported: True"]
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = migrations.nothing_here


async def test_a_blank_revision_keeps_op_and_sa_so_it_runs_once_filled_in(
    tmp_path: Path, scratch_url: URL
) -> None:
    """README: ``tfsync revision "seed county codes" --empty`` for a hand-written data
    migration; the post-write ruff must not take away the imports it is about to use."""
    root = project_copy(tmp_path)
    settings = {
        "PYTHONPATH": str(root),
        "DATABASE_URL": scratch_url.render_as_string(hide_password=False),
    }
    tfsync = [sys.executable, "-m", "terrafusion_sync"]
    done = run_process([*tfsync, "revision", "seed county codes", "--empty"], cwd=root, **settings)
    assert done.returncode == 0, done.stderr
    [written] = (root / "terrafusion_sync" / "alembic_migrations" / "versions").glob("*_seed_*")
    text = written.read_text(encoding="utf-8")
    assert "import sqlalchemy as sa\nfrom alembic import op\n" in text
    upgrade, downgrade = text.split('"""Apply this revision."""\n    pass\n')
    written.write_text(
        upgrade
        + '"""Apply this revision."""\n'
        + '    op.execute("CREATE TABLE county_codes (code text PRIMARY KEY)")\n'
        + "    op.execute(sa.text(\"INSERT INTO county_codes VALUES ('53077')\"))\n"
        + downgrade.replace("    pass\n", '    op.execute("DROP TABLE county_codes")\n'),
        encoding="utf-8",
    )
    done = run_process([*tfsync, "upgrade"], cwd=root, **settings)
    assert done.returncode == 0, done.stderr
    assert await rows(scratch_url, "SELECT code FROM county_codes") == [("53077",)]


async def test_current_heads_reads_what_alembic_reads(scratch_url: URL) -> None:
    """The runner's two-query reading of ``alembic_version`` against Alembic's own: on an
    empty database (no table), at one head, and with two rows (a merge not yet made)."""
    from alembic.runtime.migration import MigrationContext

    from terrafusion_sync.migrations.plumbing.revisions import current_heads

    def both(conn: Connection) -> tuple[tuple[str, ...], tuple[str, ...]]:
        theirs = tuple(MigrationContext.configure(conn).get_current_heads())
        return current_heads(conn), theirs

    seen = []
    async with connect(scratch_url) as conn:
        seen.append(await conn.run_sync(both))
        await conn.rollback()
        await migrations.upgrade(scratch_url)
        seen.append(await conn.run_sync(both))
        await conn.execute(text("INSERT INTO alembic_version VALUES ('0123456789ab')"))
        seen.append(await conn.run_sync(both))
        await conn.rollback()
    assert [sorted(ours) for ours, _ in seen] == [[], [HEAD], sorted([HEAD, "0123456789ab"])]
    assert [sorted(ours) for ours, _ in seen] == [sorted(theirs) for _, theirs in seen]
