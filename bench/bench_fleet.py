"""Many counties: 40 databases, each one revision behind, brought to head three ways.

- ``tfsync fleet upgrade --jobs 8`` over a fleet file listing the 40;
- a shell loop of ``tfsync upgrade``, one database after another (``DATABASE_URL`` each);
- a shell loop of plain ``alembic upgrade head`` of Alembic's own async template, one
  ``alembic.ini`` per database.

The revisions are the project's plus one small revision (a table) on top, in a temporary
folder. The 40 databases are copies (``CREATE DATABASE ... TEMPLATE``) of one migrated to
the project's head, made again before each figure (not timed), on the test server. Each
figure is one run by default (``BENCH_REPEAT`` for the median of more): the loops take
tens of seconds, and the machine is shared.
"""

from __future__ import annotations

import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import URL

from bench.chain import fresh, plain_alembic_project
from bench.timing import compare, report
from terrafusion_sync import migrations
from terrafusion_sync.aio import run_blocking
from terrafusion_sync.embedded import database_url
from terrafusion_sync.migrations.plumbing.config import VERSIONS_DIR
from terrafusion_sync.provision import derived_name, drop_database, ensure_database
from terrafusion_sync.settings import child_environ, load_settings

COUNT = int(os.environ.get("BENCH_FLEET_DATABASES", "40"))
JOBS = 8
REPEAT = int(os.environ.get("BENCH_REPEAT", "1"))
GOAL = 0.25
"""The fleet upgrade should take at most this share of the loop of plain Alembic."""
PLAN_GOAL = 2.0
"""``fleet upgrade --plan`` over the fleet: at most this many times one database's plan."""

NEW_REVISION = '''"""bench fleet step"""

import sqlalchemy as sa
from alembic import op

revision = "f1ee7be00001"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("bench_fleet_step", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("bench_fleet_step")
'''


def rendered(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def environment(versions: Path) -> dict[str, str]:
    """The process environment of the tfsync runs: only the revisions folder set."""
    return child_environ(TFSYNC_VERSIONS_DIR=str(versions))


def shell_loop(path: Path, commands: list[str]) -> Path:
    """A shell script running ``commands`` one after another, stopping at the first failure."""
    path.write_text("set -e\n" + "\n".join(commands) + "\n")
    return path


def run(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench_fleet: {argv[:4]} failed: {(done.stdout + done.stderr)[-600:]}")


def plan_figure(fleet: Path, one: URL, env: dict[str, str], reset: Callable[[], None]) -> None:
    """``fleet upgrade --plan`` over every database against ``upgrade --plan`` on one: the
    scratch database is built once per distinct revision range, not once per database."""
    reset()  # every database one revision behind again; a plan changes nothing
    plan_fleet = [sys.executable, "-m", "terrafusion_sync", "fleet", "upgrade", "--plan"]
    plan_one = [sys.executable, "-m", "terrafusion_sync", "upgrade", "--plan"]
    one_env = {**env, "DATABASE_URL": rendered(one)}
    ratio = compare(
        f"plan {COUNT} databases one revision behind",
        (f"tfsync fleet upgrade --plan ({COUNT})", "tfsync upgrade --plan (one)"),
        lambda: run([*plan_fleet, "--fleet", str(fleet)], env),
        lambda: run(plan_one, one_env),
        max(REPEAT, 3),
    )
    met = "met" if ratio <= PLAN_GOAL else "NOT met"
    print(f"  fleet plan vs one database's plan: {ratio:.2f}x (goal at most {PLAN_GOAL}x: {met})")


def main() -> None:
    server = database_url(load_settings(), test=True)
    head = migrations.script_directory(migrations.alembic_config()).get_current_head()
    if head is None:
        raise SystemExit("bench_fleet: the project has no revision to bring the databases to")
    base = server.database or "tfsync"
    template = server.set(database=derived_name(base, "bench_fleet_tmpl"))
    urls = [
        server.set(database=derived_name(base, "bench_fleet", f"{i:02d}")) for i in range(COUNT)
    ]
    with tempfile.TemporaryDirectory(prefix="tfsync-bench-fleet-") as tmp:
        work = Path(tmp)
        versions = work / "versions"
        shutil.copytree(VERSIONS_DIR, versions, ignore=shutil.ignore_patterns("__pycache__"))
        (versions / "2026_12_01_0000-f1ee7be00001_bench_fleet_step.py").write_text(
            NEW_REVISION.format(down=head)
        )
        env = environment(versions)
        python = shlex.quote(sys.executable)

        fleet = work / "fleet.toml"
        fleet.write_text(
            "".join(f'[databases.c{i:02d}]\nurl = "{rendered(u)}"\n' for i, u in enumerate(urls))
        )
        fleet_cmd = [sys.executable, "-m", "terrafusion_sync", "fleet", "upgrade"]
        fleet_cmd += ["--fleet", str(fleet), "--jobs", str(JOBS)]

        tfsync_loop = shell_loop(
            work / "tfsync_loop.sh",
            [
                f"DATABASE_URL={shlex.quote(rendered(u))} {python} -m terrafusion_sync upgrade"
                for u in urls
            ],
        )
        ini = plain_alembic_project(work / "plain", urls[0], versions)

        def url_line(url: URL) -> str:  # as plain_alembic_project writes it (asyncpg's URL)
            return f"sqlalchemy.url = {url.render_as_string(hide_password=False)}".replace(
                "%", "%%"
            )

        first_line = url_line(urls[0])
        inis = []
        for i, url in enumerate(urls):
            copy = work / "plain" / f"alembic_{i:02d}.ini"
            line = url_line(url)
            copy.write_text(ini.read_text().replace(first_line, line))
            inis.append(copy)
        alembic_loop = shell_loop(
            work / "alembic_loop.sh",
            [f"{python} -m alembic -c {shlex.quote(str(i))} upgrade head" for i in inis],
        )

        def reset() -> None:
            for url in urls:
                run_blocking(drop_database(url))
                run_blocking(ensure_database(url, template=template.database))

        figures: dict[str, list[float]] = {"fleet": [], "tfsync": [], "alembic": []}
        runs: dict[str, Callable[[], None]] = {
            "fleet": lambda: run(fleet_cmd, env),
            "tfsync": lambda: run(["bash", str(tfsync_loop)], env),
            "alembic": lambda: run(["bash", str(alembic_loop)], dict(os.environ)),
        }
        try:
            fresh(template)
            run_blocking(migrations.upgrade(template, head))
            print(
                f"{COUNT} databases, each one revision behind (copies of one at {head}); "
                f"{REPEAT} run(s) of each, the order turning every round",
                flush=True,
            )
            order = list(runs)
            for round_ in range(REPEAT):
                for name in order[round_ % 3 :] + order[: round_ % 3]:
                    reset()
                    start = time.perf_counter()
                    runs[name]()
                    figures[name].append(time.perf_counter() - start)
                    at_new = {run_blocking(migrations.current_revisions(u)) for u in urls}
                    if at_new != {("f1ee7be00001",)}:
                        raise SystemExit(f"bench_fleet: {name} left the databases at {at_new}")
            fleet_s, tfsync_s, alembic_s = (statistics.median(figures[n]) for n in runs)
            label = f"upgrade {COUNT} databases one revision each"
            ours = (f"tfsync fleet upgrade --jobs {JOBS}", fleet_s)
            ratio = report(label, ours, ("loop of alembic upgrade head", alembic_s))
            report(label, ours, ("loop of tfsync upgrade", tfsync_s))
            report(label, ("loop of tfsync upgrade", tfsync_s), ("loop of alembic", alembic_s))
            met = "met" if ratio <= GOAL else "NOT met"
            print(
                f"  fleet vs the loop of plain Alembic: {ratio:.2f}x (goal at most {GOAL}x: {met})"
            )
            plan_figure(fleet, urls[0], env, reset)
        finally:
            for url in [*urls, template]:
                run_blocking(drop_database(url))
