"""Rebase: after a merge left two heads, move this branch's revisions onto the other head.

Two people added a revision on the same head; after the merge Alembic sees two heads.
A merge revision would record an order that never mattered; instead the revisions that
exist only on this git branch (compared with ``--onto``) are moved: the lowest of them
now follows the other head (``down_revision`` and the docstring's ``Revises:`` edited),
ids unchanged. Refused when one of them is already applied to the application database
(it ran in the old order), or when both heads change the same column of the same table
(read from their offline SQL with :mod:`..sql.statements`): then a person must decide.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from sqlalchemy.engine import URL

from terrafusion_sync.errors import MigrationError
from terrafusion_sync.migrations.chain.git import added_since, refuse_dirty, refuse_unknown_branch
from terrafusion_sync.migrations.plumbing.alembic_errors import alembic_errors
from terrafusion_sync.migrations.plumbing.commands import current_revisions, offline_sql
from terrafusion_sync.migrations.plumbing.config import (
    alembic_config,
    script_directory,
    versions_dir,
)
from terrafusion_sync.migrations.plumbing.revisions import applied, file_name
from terrafusion_sync.migrations.sql.statements import actions

DOWN_REVISION = re.compile(r"^(down_revision\b[^=\n]*=\s*)(['\"])([^'\"]*)\2", re.MULTILINE)


@dataclass(frozen=True)
class Rebased:
    """What a rebase did: the revisions moved (oldest first) and the head they now follow;
    nothing when there was one head."""

    moved: list[str] = field(default_factory=list)
    onto: str | None = None
    edited: Path | None = None

    def describe_lines(self) -> list[str]:
        """``moved X onto Y (edited file)``, or that there was one head."""
        if not self.moved:
            return ["one head: nothing to rebase"]
        edited = f" (edited {self.edited.name})" if self.edited else ""
        return [f"moved {', '.join(self.moved)} onto {self.onto}{edited}"]


async def rebase(onto: str = "main", *, app_url: URL, cfg: Config | None = None) -> Rebased:
    """Move the revisions only this branch has onto the other head (see the module)."""
    cfg = cfg or alembic_config()
    versions = versions_dir(cfg)
    refuse_dirty(versions)
    refuse_unknown_branch(versions, onto)
    scripts = script_directory(cfg)
    heads = scripts.get_heads()
    if len(heads) < 2:
        return Rebased()
    ours = _ours(scripts, added_since(versions, onto), onto)
    bottom, other = _bottom_and_other_head(ours, heads)
    known = {s.revision for s in scripts.walk_revisions()}
    at = [head for head in await current_revisions(app_url, cfg) if head in known]
    done = {s.revision for s in applied(scripts, at)}
    hit = next((s for s in reversed(ours) if s.revision in done), None)
    if hit is not None:
        raise MigrationError(
            f"revision {hit.revision} ({file_name(hit)}) is applied to the application "
            "database: moving it would change history that already ran there",
            f"downgrade it first (make downgrade REV={bottom.down_revision}), then rebase",
        )
    theirs = _between(scripts, other, str(bottom.down_revision))
    _refuse_same_column(cfg, scripts, ours, theirs)
    _move(Path(bottom.path), str(bottom.down_revision), other)
    return Rebased([s.revision for s in reversed(ours)], other, Path(bottom.path))


def _ours(scripts: ScriptDirectory, files: set[str], onto: str) -> list[Script]:
    """The revisions whose files only this branch has, newest first."""
    with alembic_errors():
        ours = [s for s in scripts.walk_revisions() if file_name(s) in files]
    if not ours:
        raise MigrationError(
            f"no revision exists only on this branch (compared with {onto}): nothing to move",
            "run it on the branch whose revisions should follow the other head",
        )
    return ours


def _bottom_and_other_head(ours: Sequence[Script], heads: Sequence[str]) -> tuple[Script, str]:
    """The lowest revision to move (it must sit on one revision) and the head to move onto."""
    ids = {s.revision for s in ours}
    bottoms = [s for s in ours if not set(_downs(s)) & ids]
    others = [h for h in heads if h not in ids]
    if len(heads) != 2 or len(bottoms) != 1 or len(others) != 1 or len(_downs(bottoms[0])) != 1:
        raise MigrationError(
            f"cannot rebase {len(ours)} revision(s) across heads {', '.join(heads)}: "
            "only one line of revisions onto one other head is supported",
            "merge them by hand: alembic merge heads -m 'merge'",
        )
    return bottoms[0], others[0]


def _downs(script: Script) -> tuple[str, ...]:
    down = script.down_revision
    return tuple(down) if isinstance(down, list | tuple) else ((down,) if down else ())


def _between(scripts: ScriptDirectory, head: str, fork: str) -> list[Script]:
    """The revisions from ``fork`` (excluded) up to ``head``, newest first."""
    with alembic_errors():
        return list(scripts.iterate_revisions(head, fork))


def _refuse_same_column(
    cfg: Config, scripts: ScriptDirectory, ours: Iterable[Script], theirs: Iterable[Script]
) -> None:
    mine = _columns(cfg, scripts, ours)
    for column, revision in _columns(cfg, scripts, theirs).items():
        if column in mine:
            raise MigrationError(
                f"both heads change column {column[0]}.{column[1]}: {mine[column]} on this "
                f"branch and {revision} on the other",
                "decide their order by hand (a merge revision, or one revision rewritten)",
            )


def _columns(
    cfg: Config, scripts: ScriptDirectory, revisions: Iterable[Script]
) -> dict[tuple[str, str], str]:
    """``(table, column)`` -> the revision whose offline SQL changes it."""
    found: dict[tuple[str, str], str] = {}
    for script in revisions:
        sql = offline_sql(cfg, f"{_downs(script)[0]}:{script.revision}", scripts=scripts)
        for action in actions(sql):
            if action.column and action.changes_schema:
                table = action.table.rsplit(".", 1)[-1].strip('"')
                found.setdefault((table, action.column), script.revision)
    return found


def _move(path: Path, old: str, new: str) -> None:
    """Point the revision file at ``path`` from ``old`` to ``new``: its ``down_revision``
    and the ``Revises:`` line of its docstring."""
    source = path.read_text(encoding="utf-8")
    source, edits = DOWN_REVISION.subn(
        lambda m: f"{m.group(1)}{m.group(2)}{new}{m.group(2)}", source, count=1
    )
    if edits != 1:
        raise MigrationError(
            f"cannot find down_revision = {old!r} in {path.name}",
            "edit its down_revision by hand; nothing was changed",
        )
    revises = re.compile(rf"^(Revises:[ \t]*){re.escape(old)}\b", re.MULTILINE)
    source = revises.sub(lambda m: f"{m.group(1)}{new}", source, count=1)
    path.write_text(source, encoding="utf-8")
