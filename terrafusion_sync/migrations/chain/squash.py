"""Squash: one proven baseline, keeping the squash point's id, replaces the revisions up
to and including it.

Order of work, each step refusing before anything is written:
1. the revision folder is committed (git), the squash point is known and the chain below
   it is a straight line that nothing else branches from;
2. no known database is still before the squash point (:mod:`.standing`);
3. the proof: a scratch database built through the old chain, ``pg_dump``'d into the
   baseline (:mod:`.baseline`); a second scratch database built from the baseline; their
   catalogs and rows compared (:mod:`.catalog`). The first difference stops it;
4. the old files go and the baseline takes their place. Databases at the squash point or
   later run nothing new: they already have its id.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from sqlalchemy.engine import URL

from terrafusion_sync.database import connect
from terrafusion_sync.errors import MigrationError
from terrafusion_sync.migrations.chain import baseline, catalog, pg_dump
from terrafusion_sync.migrations.chain.baseline import Replaced
from terrafusion_sync.migrations.chain.git import refuse_dirty
from terrafusion_sync.migrations.chain.standing import Known, refuse_left_behind, where_they_stand
from terrafusion_sync.migrations.deploy.upgrade import upgrade
from terrafusion_sync.migrations.outcome import Report, quiet
from terrafusion_sync.migrations.plumbing.alembic_errors import alembic_errors
from terrafusion_sync.migrations.plumbing.checksums import revision_checksum
from terrafusion_sync.migrations.plumbing.config import (
    alembic_config,
    script_directory,
    versions_dir,
)
from terrafusion_sync.migrations.plumbing.revisions import applied, file_name
from terrafusion_sync.provision import scratch_database


@dataclass(frozen=True)
class Squashed:
    """What a squash wrote: the baseline file, the revisions it replaced (oldest first), the
    backfills it dropped, and how many catalog facts the proof compared."""

    revision: str
    baseline: Path
    replaced: list[Replaced]
    dropped: list[str]
    compared: int

    def describe_lines(self) -> list[str]:
        """What was written, and each backfill the baseline dropped."""
        return [
            f"wrote {self.baseline.name}: {len(self.replaced)} revision(s) squashed into "
            f"{self.revision}",
            *(f"dropped (a backfill of live rows, nothing to replay): {d}" for d in self.dropped),
        ]


async def squash(
    through: str,
    *,
    cfg: Config | None = None,
    scratch_server: URL,
    databases: Sequence[Known] = (),
    force: bool = False,
    report: Report = quiet,
) -> Squashed:
    """Replace every revision up to ``through`` with a proven baseline (see the module).

    Scratch databases are made on ``scratch_server``'s server; ``databases`` are those that
    must not be left behind; ``force`` skips the unreachable among them.
    """
    cfg = cfg or alembic_config()
    versions = versions_dir(cfg)
    refuse_dirty(versions)
    folded = folded_revisions(script_directory(cfg), through)
    point = folded[-1].revision
    report(f"asking {len(databases)} known database(s) where they stand")
    standings = await where_they_stand(databases)
    refuse_left_behind(standings, [s.revision for s in folded[:-1]], point, force=force)
    for skipped in (s for s in standings if s.error):
        report(f"skipped unreachable {skipped.known.name} (--force)")
    replaced = [Replaced(s.revision, file_name(s), revision_checksum(Path(s.path))) for s in folded]
    dropped = baseline.dropped_backfills([Path(s.path) for s in folded])
    source, compared = await _proven(cfg, point, replaced, dropped, scratch_server, report)
    path = _write(versions, folded, source)
    return Squashed(point, path, replaced, dropped, compared)


def folded_revisions(scripts: ScriptDirectory, through: str) -> list[Script]:
    """The revisions from base to ``through``, oldest first, refused unless they are one
    straight line that no other revision branches from."""
    with alembic_errors():
        point = scripts.get_revision(through.strip()) if through.strip() else None
    if point is None:
        raise MigrationError(f"no revision {through!r} to squash through", "see `make status`")
    folded = applied(scripts, [point.revision])
    ids = {s.revision for s in folded}
    merge = next((s for s in folded if s.is_merge_point), None)
    if merge is not None:
        raise MigrationError(
            f"cannot squash through {point.revision}: {merge.revision} merges branches below it",
            "squash through a revision below the merge, or one with a single line below it",
        )
    for script in scripts.walk_revisions():
        below = set(script.down_revision if isinstance(script.down_revision, tuple) else ())
        below |= {script.down_revision} if isinstance(script.down_revision, str) else set()
        if script.revision not in ids and below & (ids - {point.revision}):
            raise MigrationError(
                f"cannot squash through {point.revision}: {script.revision} branches off "
                f"below it (from {', '.join(sorted(below & ids))})",
                "merge or rebase that branch first (tfsync rebase)",
            )
    return folded


async def _proven(
    cfg: Config,
    point: str,
    replaced: Sequence[Replaced],
    dropped: Sequence[str],
    server: URL,
    report: Report,
) -> tuple[str, int]:
    """The baseline's source, once a database built from it equals one built through the
    old chain; and how many facts were compared."""
    async with scratch_database(server, "squash_old") as old_url:
        report(f"building a scratch database through the old chain to {point}")
        await upgrade(old_url, point, cfg=cfg)
        source = baseline.render(
            point, replaced, baseline.statements(await pg_dump.dump(old_url)), dropped
        )
        old = await _catalog(old_url)
    with tempfile.TemporaryDirectory(prefix="tfsync-baseline-") as folder:
        (Path(folder) / f"{point}_baseline.py").write_text(source, encoding="utf-8")
        async with scratch_database(server, "squash_new") as new_url:
            report("building a scratch database from the baseline")
            await upgrade(new_url, point, cfg=alembic_config(versions_dir=Path(folder)))
            new = await _catalog(new_url)
    difference = catalog.first_difference(old, new, "old chain", "baseline")
    if difference is not None:
        raise MigrationError(
            f"the baseline would not build the same database: {difference}",
            "nothing was written; the old chain stays as it is",
        )
    report(f"proof: {len(old)} catalog facts and table contents are the same")
    return source, len(old)


async def _catalog(url: URL) -> catalog.Catalog:
    async with connect(url) as conn:
        return await conn.run_sync(catalog.snapshot)


def _write(versions: Path, folded: Sequence[Script], source: str) -> Path:
    """Remove the folded files and write the baseline under the squash point's date."""
    point = folded[-1]
    prefix = Path(point.path).name.split("-", 1)[0]
    target = versions / f"{prefix}-{point.revision}_squashed_baseline.py"
    for script in folded:
        Path(script.path).unlink()
    target.write_text(source, encoding="utf-8")
    shutil.rmtree(versions / "__pycache__", ignore_errors=True)
    return target
