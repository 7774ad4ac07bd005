"""What the safety of ``tfsync upgrade`` costs, next to plain ``alembic upgrade head``.

Both tools run the same generated 200-revision chain (bench/chain.py) on scratch databases
of the test server, in the same run, measured the same way:

- as subprocesses, what an operator types: ``python -m terrafusion_sync upgrade`` (pointed at
  the chain with ``TFSYNC_VERSIONS_DIR``) vs ``alembic upgrade head`` of Alembic's own async
  template; interpreter start-up and imports included;
- in-process, the safety alone: ``migrations.upgrade`` (lock, timeouts, history, checksum
  validation, one transaction per revision) vs ``alembic.command.upgrade`` on the template;
- a writer's longest stall while an ``ALTER TABLE`` waits behind a long reader, with the
  guard (``lock_timeout``, retries) and without it (plain Alembic).

Runs alternate between the two tools so that load from elsewhere hits both alike; the
figures are medians, as this machine's own noise is several per cent from run to run.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import URL

from bench.chain import fresh, plain_alembic_project, revision_id, write_chain
from bench.timing import compare, report, turns
from terrafusion_sync import migrations
from terrafusion_sync.aio import run_blocking
from terrafusion_sync.database import connect
from terrafusion_sync.embedded import database_url
from terrafusion_sync.provision import drop_database
from terrafusion_sync.settings import child_environ, load_settings

CHAIN = 200
REPEAT_CHAIN = 7
REPEAT_NOOP = 9
REPEAT_SPLIT = 3
STALL_LOCK_TIMEOUT = "1s"
BLOCKER_SECONDS = 5.0
GOAL_CHAIN = 0.8
"""Issue 23: the operator's 200-revision upgrade from empty, at most this ratio to Alembic."""
GOAL_NOOP = 0.5
"""Issue 23: the operator's no-op upgrade at head, at most this ratio to Alembic."""

ALTER = '''"""add a column to the busy table"""

import sqlalchemy as sa
from alembic import op

revision = "a1ter0000001"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("chain_0000", sa.Column("note", sa.Text()))


def downgrade() -> None:
    op.drop_column("chain_0000", "note")
'''


def tfsync_cmd(url: URL, versions: Path, **extra: str) -> tuple[list[str], dict[str, str]]:
    """``python -m terrafusion_sync upgrade`` on ``url`` and the chain in ``versions``."""
    env = child_environ(
        DATABASE_URL=url.render_as_string(hide_password=False),
        TFSYNC_VERSIONS_DIR=str(versions),
        **extra,
    )
    return [sys.executable, "-m", "terrafusion_sync", "upgrade"], env


def alembic_cmd(ini: Path) -> tuple[list[str], dict[str, str]]:
    """Plain ``alembic upgrade head`` of the template project."""
    return [sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "head"], dict(os.environ)


def run_cmd(cmd: tuple[list[str], dict[str, str]]) -> None:
    argv, env = cmd
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench_upgrade: {argv[2:]} failed: {done.stderr.strip()[-400:]}")


def quietly(fn: Callable[..., object], *args: object) -> None:
    """Call ``fn`` with stderr swallowed (the template's env.py logs every revision there)."""
    with contextlib.redirect_stderr(io.StringIO()):
        fn(*args)


def chain_figures(server: URL, work: Path) -> None:
    """The 200-revision chain from empty, and a no-op at head; subprocess and in-process."""
    versions = work / "versions"
    write_chain(versions, CHAIN)
    ours_url = server.set(database=f"tfsync_bench_ours_{os.getpid()}")
    theirs_url = server.set(database=f"tfsync_bench_plain_{os.getpid()}")
    ini = plain_alembic_project(work / "plain", theirs_url, versions)
    ours_cmd, theirs_cmd = tfsync_cmd(ours_url, versions), alembic_cmd(ini)
    cfg_ours = migrations.alembic_config(versions_dir=versions)
    cfg_theirs = Config(str(ini))
    cfg_theirs.set_main_option("script_location", str(work / "plain" / "migrations"))
    cfg_tpm = per_revision_transactions(work / "plain_tpm", theirs_url, versions)

    def empty_both() -> None:
        fresh(ours_url)
        fresh(theirs_url)

    def both_at_head() -> None:
        """Untimed, before a no-op figure: the last round emptied both databases."""
        run_cmd(ours_cmd)
        run_cmd(theirs_cmd)

    try:
        print(
            f"chain: {CHAIN} revisions, a table and an index each; medians of {REPEAT_CHAIN} "
            f"runs ({REPEAT_NOOP} for a no-op), the two tools taking turns"
        )
        commands = ("tfsync upgrade", "alembic upgrade head")
        tfsync, alembic = (lambda: run_cmd(ours_cmd)), (lambda: run_cmd(theirs_cmd))
        ratio = compare(
            f"upgrade {CHAIN} from empty, as an operator runs it",
            commands,
            tfsync,
            alembic,
            REPEAT_CHAIN,
            empty_both,
        )
        verdict("from empty, all safety on", ratio, f"at most {GOAL_CHAIN}x", ratio <= GOAL_CHAIN)
        both_at_head()
        ratio = compare(
            "no-op upgrade at head, as an operator runs it", commands, tfsync, alembic, REPEAT_NOOP
        )
        verdict("cost of a no-op", ratio, f"at most {GOAL_NOOP}x", ratio <= GOAL_NOOP)

        print("in-process, without interpreter start-up and imports:")
        functions = ("migrations.upgrade", "command.upgrade")

        def ours() -> None:
            run_blocking(migrations.upgrade(ours_url, cfg=cfg_ours))

        def theirs(cfg: Config) -> Callable[[], None]:
            return lambda: quietly(command.upgrade, cfg, "head")

        ratio = compare(
            f"  upgrade {CHAIN} from empty, vs one transaction for the whole run (the default)",
            functions,
            ours,
            theirs(cfg_theirs),
            REPEAT_CHAIN,
            empty_both,
        )
        verdict("  all the safety, a commit per revision included", ratio, "", None)
        ratio = compare(
            f"  upgrade {CHAIN} from empty, vs one transaction per revision (as point 2 asks)",
            functions,
            ours,
            theirs(cfg_tpm),
            REPEAT_CHAIN,
            empty_both,
        )
        verdict("  lock, timeouts, history and validation alone", ratio, "", None)
        cpu_split(ours, theirs(cfg_theirs), empty_both)
        both_at_head()
        ratio = compare("  no-op upgrade at head", functions, ours, theirs(cfg_theirs), REPEAT_NOOP)
        verdict("  cost of a no-op", ratio, "no more than plain Alembic", ratio <= 1.0)
    finally:
        run_blocking(drop_database(ours_url))
        run_blocking(drop_database(theirs_url))


def cpu_split(
    ours: Callable[[], None], theirs: Callable[[], None], before: Callable[[], None]
) -> None:
    """Where an in-process run from empty spends its time: this process's CPU (Python:
    Alembic's operations, SQLAlchemy's compiler, the driver, our safety) and the rest,
    waiting for the server's DDL. Medians of :data:`REPEAT_SPLIT` runs each, in turns."""
    split = turns(ours, theirs, REPEAT_SPLIT, before)
    for name, label in (("ours", "migrations.upgrade"), ("theirs", "command.upgrade")):
        wall = statistics.median(w for w, _ in split[name])
        cpu = statistics.median(c for _, c in split[name])
        print(
            f"  where {label}'s {wall:.3f} s go: {cpu:.3f} s of Python CPU, "
            f"{wall - cpu:.3f} s waiting for the server",
            flush=True,
        )


def verdict(what: str, ratio: float, target: str, met: bool | None) -> None:
    """``  cost of a no-op: 0.47x, -53.0 % (target at most 0.5x: met)``, from the ratio."""
    judged = f" (target {target}: {'met' if met else 'NOT met'})" if met is not None else ""
    print(f"  {what}: {ratio:.2f}x, {100 * (ratio - 1):+.1f} %{judged}", flush=True)


def per_revision_transactions(directory: Path, url: URL, versions: Path) -> Config:
    """The template again, with ``transaction_per_migration=True``: the same unit of work."""
    ini = plain_alembic_project(directory, url, versions)
    env = directory / "migrations" / "env.py"
    env.write_text(
        env.read_text().replace(
            "context.configure(connection=connection, target_metadata=target_metadata)",
            "context.configure(connection=connection, target_metadata=target_metadata,"
            " transaction_per_migration=True)",
        )
    )
    cfg = Config(str(ini))
    cfg.set_main_option("script_location", str(directory / "migrations"))
    return cfg


async def writer_stall(url: URL, migrate: tuple[list[str], dict[str, str]]) -> tuple[float, int]:
    """Longest single insert while ``migrate`` ALTERs a table a reader holds for a while."""
    stalls: list[float] = []
    done = asyncio.Event()

    async def write() -> None:
        async with connect(url) as conn:
            while not done.is_set():
                start = time.perf_counter()
                await conn.execute(text("INSERT INTO chain_0000 (name) VALUES ('w')"))
                await conn.commit()
                stalls.append(time.perf_counter() - start)
                await asyncio.sleep(0.01)

    async with connect(url) as blocker:
        await blocker.execute(text("SELECT count(*) FROM chain_0000"))  # ACCESS SHARE, held
        writer = asyncio.create_task(write())
        argv, env = migrate
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        await asyncio.sleep(BLOCKER_SECONDS)
        await blocker.rollback()  # the long reader finishes
        _, err = await proc.communicate()
        done.set()
        await writer
    if proc.returncode != 0:
        raise SystemExit(f"bench_upgrade: {argv[2:]} failed: {err.decode().strip()[-400:]}")
    return max(stalls), len(stalls)


def stall_figures(server: URL, work: Path) -> None:
    """A writer's longest stall during a blocked ALTER, with and without the guard."""
    versions = work / "stall_versions"
    write_chain(versions, 1)
    (versions / "2026_01_02_0000-a1ter0000001_add_note.py").write_text(
        ALTER.format(down=revision_id(0))
    )
    ours_url = server.set(database=f"tfsync_bench_stall_ours_{os.getpid()}")
    theirs_url = server.set(database=f"tfsync_bench_stall_plain_{os.getpid()}")
    ini = plain_alembic_project(work / "stall_plain", theirs_url, versions)
    cfg = migrations.alembic_config(versions_dir=versions)
    try:
        for url in (ours_url, theirs_url):
            fresh(url)
            run_blocking(migrations.upgrade(url, revision_id(0), cfg=cfg))
        ours_cmd = tfsync_cmd(
            ours_url, versions, TFSYNC_LOCK_TIMEOUT=STALL_LOCK_TIMEOUT, TFSYNC_LOCK_RETRIES="10"
        )
        ours, n_ours = asyncio.run(writer_stall(ours_url, ours_cmd))
        theirs, n_theirs = asyncio.run(writer_stall(theirs_url, alembic_cmd(ini)))
        print(
            f"writer during an ALTER blocked {BLOCKER_SECONDS:.0f} s by a reader "
            f"({n_ours} and {n_theirs} inserts; guard lock_timeout {STALL_LOCK_TIMEOUT}):"
        )
        report(
            "  writer's longest stall",
            ("with the guard (tfsync)", ours),
            ("without (plain alembic)", theirs),
        )
    finally:
        run_blocking(drop_database(ours_url))
        run_blocking(drop_database(theirs_url))


def main() -> None:
    """Print every figure of this benchmark."""
    server = database_url(load_settings(), test=True)
    with tempfile.TemporaryDirectory(prefix="bench_upgrade_") as tmp:
        chain_figures(server, Path(tmp))
        stall_figures(server, Path(tmp))


if __name__ == "__main__":
    main()
