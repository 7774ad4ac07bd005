"""Many counties: ``tfsync fleet status`` and ``tfsync fleet upgrade`` over real databases.

Every county database is a copy of the migrated test template (``CREATE DATABASE ...
TEMPLATE``), named after the test database and dropped afterwards. The revision files are
the project's plus one tiny revision on top, so each copy is exactly one revision behind.
Passwords come from ``${FLEET_PW}`` in the fleet file and must never be shown.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.engine import URL

from terrafusion_sync import migrations
from terrafusion_sync.aio import run_blocking
from terrafusion_sync.cli import main
from terrafusion_sync.database import connect
from terrafusion_sync.migrations.deploy.history import TABLE_NAME
from terrafusion_sync.migrations.plumbing.config import VERSIONS_DIR
from terrafusion_sync.provision import derived_name, drop_database, ensure_database
from terrafusion_sync.settings import PROJECT_DIR, child_environ
from terrafusion_sync.testing import TestDatabases

from helpers import HANG_GUARD, HEAD, SECRET, add_revision, assert_one_line_error

NEW = "f1ee70000001"
"""The tiny revision every county is one behind."""
DOWN = f"postgresql://tfsync:{SECRET}@127.0.0.1:1/county_down"
"""A database nobody listens for: a closed port."""

MakeCounties = Callable[[int], Awaitable[list[URL]]]


@pytest.fixture
def fleet_versions(versions: Path) -> Path:
    """The project's revisions and one more that creates a small table."""
    head = migrations.script_directory(migrations.alembic_config()).get_current_head()
    add_revision(
        versions,
        NEW,
        head,
        upgrade='op.create_table("fleet_probe", sa.Column("id", sa.Integer()))',
        downgrade='op.drop_table("fleet_probe")',
        doc="fleet probe",
    )
    return versions


@pytest.fixture
def fleet_env(env: pytest.MonkeyPatch, fleet_versions: Path) -> pytest.MonkeyPatch:
    """The clean CLI environment, on the revisions with the tiny one, with the password."""
    env.setenv("TFSYNC_VERSIONS_DIR", str(fleet_versions))
    env.setenv("FLEET_PW", SECRET)
    for name in ("TFSYNC_FLEET", "FORCE_COLOR", "TTY_COMPATIBLE"):  # plain lines: not a terminal
        env.delenv(name, raising=False)
    return env


@pytest_asyncio.fixture(loop_scope="session")
async def counties(tfsync_test_databases: TestDatabases) -> AsyncIterator[MakeCounties]:
    """Make N county databases, copies of the migrated template; all dropped afterwards."""
    base = tfsync_test_databases.url
    template = tfsync_test_databases.template.database
    token = secrets.token_hex(3)
    made: list[URL] = []

    async def make(count: int) -> list[URL]:
        gate = asyncio.Semaphore(4)  # on the loop of this call (tests call it from their own)

        async def copy(url: URL) -> None:
            async with gate:
                await ensure_database(url, template=template)

        first = len(made)
        urls = [
            base.set(database=derived_name(base.database or "", "fleet", token, f"{first + i:02d}"))
            for i in range(count)
        ]
        made.extend(urls)
        await asyncio.gather(*(copy(url) for url in urls))
        return urls

    yield make
    gate = asyncio.Semaphore(4)

    async def drop(url: URL) -> None:
        async with gate:
            await drop_database(url)

    await asyncio.gather(*(drop(url) for url in made))


def fleet_file(
    path: Path,
    databases: Mapping[str, URL | str],
    *,
    tags: Mapping[str, str] | None = None,
    head: str = "",
) -> Path:
    """A fleet file: each URL with the password ``${FLEET_PW}``; ``tags`` by name."""
    lines = [head]
    for name, url in databases.items():
        if isinstance(url, URL):
            url = (
                url.set(drivername="postgresql", password="PW")
                .render_as_string(hide_password=False)
                .replace(":PW@", ":${FLEET_PW}@")
            )
        lines += [f"[databases.{name}]", f'url = "{url}"']
        if tags and name in tags:
            lines.append(f'tags = {{ region = "{tags[name]}" }}')
    path.write_text("\n".join(lines) + "\n")
    return path


def named(urls: list[URL]) -> dict[str, URL | str]:
    return {f"c{i:02d}": url for i, url in enumerate(urls)}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    return code, out, err


async def run_sql(url: URL, sql: str) -> None:
    async with connect(url) as conn:
        await conn.execute(text(sql))
        await conn.commit()


async def at(url: URL) -> tuple[str, ...]:
    return await migrations.current_revisions(url)


async def upgrades_of_new(url: URL) -> int:
    """How many times the tiny revision was applied, by the database's own history."""
    async with connect(url) as conn:
        return await conn.scalar(
            text(
                f"SELECT count(*) FROM {TABLE_NAME}"
                " WHERE revision = :rev AND direction = 'upgrade' AND success"
            ),
            {"rev": NEW},
        )


def row(out: str, name: str) -> str:
    """The line of ``name`` in a printed table."""
    found = [line for line in out.splitlines() if re.match(rf"{name}\s", line)]
    assert len(found) == 1, (name, out)
    return found[0].rstrip()


def summary_row(out: str, name: str) -> str:
    """``name``'s row of the summary table (after the progress lines)."""
    header = list(re.finditer(r"^database\s+from\s+to\s+time\s+result", out, re.MULTILINE))
    assert header, out
    return row(out[header[-1].start() :], name)


async def behind(urls: list[URL]) -> bool:
    """True when every database is still exactly where the template was, untouched."""
    head = migrations.script_directory(migrations.alembic_config()).get_current_head()
    for url in urls:
        if await at(url) != (head,) or await upgrades_of_new(url):
            return False
    return True


@pytest.mark.parametrize(
    ("content", "extra", "said"),
    [
        ("[databases.c00\nurl = 1", (), "is not valid TOML"),
        ("{c00}\ncolour = 'red'", (), "unknown key 'colour' at databases.c00"),
        (
            "{c00}\n[databases.c01]\nurl = 'postgresql://u:${FLEET_NOT_SET}@h/x'",
            (),
            "FLEET_NOT_SET",
        ),
        ("{c00}\n[databases.again]\nurl = '{url}'", (), "are the same database"),
        ("{c00}", ("--canary", "nope"), "canary 'nope' is not a database of"),
        ("{c00}", ("--only", "region=mars"), "no database in"),
        ("{c00}\n[databases.other]\nurl = 'mysql://u:${FLEET_PW}@h/x'", (), "not PostgreSQL"),
        ("jobs = 0\n{c00}", (), "jobs is 0"),
        ("", (), "lists no databases"),
        ("{c00}", ("nope",), "Can't locate revision identified by 'nope'"),
    ],
    ids=[
        "bad-toml",
        "unknown-key",
        "unset-var",
        "duplicate",
        "unknown-canary",
        "only-nothing",
        "not-postgres",
        "bad-jobs",
        "empty",
        "unknown-target",
    ],
)
def test_a_bad_fleet_is_one_line_and_runs_nothing(
    fleet_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    counties: MakeCounties,
    tmp_path: Path,
    content: str,
    extra: tuple[str, ...],
    said: str,
) -> None:
    (county,) = run_blocking(counties(1))
    good = fleet_file(tmp_path / "good.toml", {"c00": county}).read_text().strip()
    url = good.split("url = ", 1)[1].strip('"')
    path = tmp_path / "fleet.toml"
    path.write_text(content.replace("{c00}", good).replace("{url}", url))

    code, out, err = run_cli(capsys, "fleet", "upgrade", "--fleet", str(path), *extra)

    assert code == 2
    assert_one_line_error(err, said)
    assert out == ""
    assert run_blocking(behind([county]))


def test_no_fleet_file_says_how_to_make_one(
    fleet_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fleet_env.setenv("TFSYNC_FLEET", str(tmp_path / "absent.toml"))
    code, _, err = run_cli(capsys, "fleet", "status")
    assert code == 2
    assert_one_line_error(err, "no fleet file at", "fleet.example.toml")


def test_a_variable_may_come_from_dot_env(
    fleet_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    counties: MakeCounties,
    tmp_path: Path,
) -> None:
    (county,) = run_blocking(counties(1))
    dot_env = tmp_path / "county.env"
    dot_env.write_text(f"FLEET_PW={SECRET}\n")
    fleet_env.setenv("TFSYNC_ENV_FILE", str(dot_env))
    fleet_env.delenv("FLEET_PW")
    fleet_env.setenv("TFSYNC_FLEET", str(fleet_file(tmp_path / "fleet.toml", {"benton": county})))

    code, out, err = run_cli(capsys, "fleet", "status")

    assert (code, err) == (0, "")
    assert re.search(rf"yes\s+{HEAD}\s+1\s", row(out, "benton"))


def test_status_has_a_row_for_every_database_even_down_or_broken(
    fleet_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    counties: MakeCounties,
    tmp_path: Path,
    fleet_versions: Path,
) -> None:
    behind_one, broken, current = run_blocking(counties(3))
    run_blocking(run_sql(broken, "UPDATE alembic_version SET version_num = 'badbadbadbad'"))
    run_blocking(migrations.upgrade(current, versions_dir=fleet_versions))
    databases = {"late": behind_one, "broken": broken, "current": current, "down": DOWN}
    path = fleet_file(tmp_path / "fleet.toml", databases, head="connect_timeout = 3")

    code, out, err = run_cli(capsys, "fleet", "status", "--fleet", str(path))

    assert code == 1, err  # a database that cannot be read is a finding, not a crash
    assert err == ""
    assert re.search(rf"yes\s+{HEAD}\s+1\s+\S+", row(out, "late"))
    assert re.search(rf"yes\s+{NEW}\s+0\s+\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d$", row(out, "current"))
    assert re.search(r"yes\s+badbadbadbad \(broken\)\s+\?", row(out, "broken"))
    assert re.search(r"no\s+\?\s+\?", row(out, "down"))
    assert "down: cannot connect to PostgreSQL at 127.0.0.1:1/county_down" in out
    assert "broken: at badbadbadbad, which the revision files cannot take to head: " in out
    assert "No such revision or branch 'badbadbadbad'" in out
    assert "4 database(s): 1 at head, 1 behind, 1 down, 1 broken" in out
    assert run_blocking(behind([behind_one]))


def test_a_canary_that_fails_starts_nothing_else(
    fleet_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    counties: MakeCounties,
    tmp_path: Path,
) -> None:
    urls = run_blocking(counties(4))
    run_blocking(run_sql(urls[2], "CREATE TABLE fleet_probe (id int)"))  # the revision fails
    path = fleet_file(tmp_path / "fleet.toml", named(urls))

    code, out, _ = run_cli(
        capsys, "fleet", "upgrade", "--fleet", str(path), "--canary", "c02", "--jobs", "4"
    )

    assert code == 1
    assert "c02: FAILED" in out
    assert 'relation "fleet_probe" already exists' in out
    assert re.search(r"FAILED$", summary_row(out, "c02"))
    for name in ("c00", "c01", "c03"):
        assert re.search(r"not started$", summary_row(out, name))
    assert run_blocking(behind([urls[0], urls[1], urls[3]]))


def test_a_canary_that_is_down_starts_nothing_even_with_keep_going(
    fleet_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    counties: MakeCounties,
    tmp_path: Path,
) -> None:
    urls = run_blocking(counties(2))
    path = fleet_file(
        tmp_path / "fleet.toml", {**named(urls), "down": DOWN}, head='canaries = ["down"]'
    )

    code, out, _ = run_cli(capsys, "fleet", "upgrade", "--fleet", str(path), "--keep-going")

    assert code == 1
    assert "down: FAILED: cannot connect to PostgreSQL at 127.0.0.1:1/county_down" in out
    assert re.search(r"not started$", summary_row(out, "c00"))
    assert re.search(r"not started$", summary_row(out, "c01"))
    assert run_blocking(behind(urls))


def test_after_a_failure_nothing_new_starts_unless_keep_going_and_a_rerun_does_what_is_left(
    fleet_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    counties: MakeCounties,
    tmp_path: Path,
) -> None:
    urls = run_blocking(counties(4))
    run_blocking(run_sql(urls[1], "CREATE TABLE fleet_probe (id int)"))
    path = str(fleet_file(tmp_path / "fleet.toml", named(urls)))

    code, out, _ = run_cli(capsys, "fleet", "upgrade", "--fleet", path, "--jobs", "1")
    assert code == 1
    assert re.search(rf"{HEAD}\s+{NEW}\s+[\d.]+ s\s+upgraded$", summary_row(out, "c00"))
    assert re.search(r"FAILED$", summary_row(out, "c01"))
    assert re.search(r"not started$", summary_row(out, "c02"))
    assert re.search(r"not started$", summary_row(out, "c03"))
    assert "stopped after the first failure" in out
    assert run_blocking(behind(urls[2:]))

    code, out, _ = run_cli(capsys, "fleet", "upgrade", "--fleet", path, "--keep-going", "-j", "2")
    assert code == 1
    assert re.search(r"already at target$", summary_row(out, "c00"))
    assert re.search(r"FAILED$", summary_row(out, "c01"))
    assert re.search(r"upgraded$", summary_row(out, "c02"))
    assert re.search(r"upgraded$", summary_row(out, "c03"))
    assert "c00: started" not in out  # already done: not started again
    lines = out.splitlines()  # each database's progress lines come before its result

    def first(prefix: str) -> int:
        return next(i for i, line in enumerate(lines) if line.startswith(prefix))

    assert first(f"c02: upgraded   {NEW}  fleet probe") < first("c02: upgraded 1 revision(s)")

    run_blocking(run_sql(urls[1], "DROP TABLE fleet_probe"))
    code, out, _ = run_cli(capsys, "fleet", "upgrade", "--fleet", path)
    assert code == 0
    assert [line.split(":")[0] for line in out.splitlines() if ": started" in line] == ["c01"]
    assert re.search(r"upgraded$", summary_row(out, "c01"))
    assert "4 of 4 database(s) at the target" in out
    assert [run_blocking(upgrades_of_new(url)) for url in urls] == [1, 1, 1, 1]


def test_on_a_terminal_a_live_table_shows_each_database_then_the_summary(
    fleet_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    counties: MakeCounties,
    tmp_path: Path,
) -> None:
    urls = run_blocking(counties(2))
    path = str(fleet_file(tmp_path / "fleet.toml", named(urls)))
    fleet_env.setenv("FORCE_COLOR", "1")  # what rich takes for a terminal

    code, out, _ = run_cli(capsys, "fleet", "upgrade", "--fleet", path)

    assert code == 0
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)
    assert re.search(r"database\s+on revision\s+done\s+time\s+last", plain)  # the live table
    assert "c00: started" not in plain  # no plain progress lines on a terminal
    assert re.search(rf"c01\s+{HEAD}\s+{NEW}\s+[\d.]+ s\s+upgraded", plain)
    assert "2 of 2 database(s) at the target" in plain


def test_plan_lists_what_would_run_per_database_and_changes_nothing(
    fleet_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    counties: MakeCounties,
    tmp_path: Path,
) -> None:
    urls = run_blocking(counties(3))
    tags = {"c00": "east", "c01": "west", "c02": "east"}
    path = str(fleet_file(tmp_path / "fleet.toml", named(urls), tags=tags))

    code, out, err = run_cli(capsys, "fleet", "upgrade", "--fleet", path, "--plan")
    assert (code, err) == (0, "")
    for name in ("c00", "c01", "c02"):
        assert f"{name}: at {HEAD}, would run:" in out
    assert out.count(f"  {NEW}  fleet probe  (2026_12_01_0000-{NEW}_fleet_probe.py;") == 3
    assert "nothing was changed" in out

    code, out, _ = run_cli(
        capsys, "fleet", "upgrade", "--fleet", path, "--plan", "--only", "region=west"
    )
    assert code == 0
    assert "c01: at" in out
    assert "c00" not in out
    assert "c02" not in out
    assert run_blocking(behind(urls))


def test_a_database_whose_read_fails_after_connecting_is_a_row_of_the_plan(
    fleet_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    counties: MakeCounties,
    tmp_path: Path,
) -> None:
    # each database is read and planned on one connection: an error on it after
    # connecting is that database's row, one line, and the others are still planned
    urls = run_blocking(counties(2))
    broken = f"ALTER TABLE {TABLE_NAME} RENAME COLUMN finished_at TO finished"
    run_blocking(run_sql(urls[0], broken))
    path = str(fleet_file(tmp_path / "fleet.toml", named(urls)))

    code, out, err = run_cli(capsys, "fleet", "upgrade", "--fleet", path, "--plan")
    assert (code, err) == (1, "")
    [row] = [line for line in out.splitlines() if line.startswith("c00")]
    assert "column tfsync_migration_history.finished_at does not exist" in row
    assert f"c01: at {HEAD}, would run:" in out
    assert f"  {NEW}  fleet probe  (2026_12_01_0000-{NEW}_fleet_probe.py;" in out


def test_thirty_two_counties_two_runs_at_once_upgrade_each_exactly_once(
    fleet_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    counties: MakeCounties,
    fleet_versions: Path,
    tmp_path: Path,
) -> None:
    """Two deploy jobs start the same fleet upgrade at once, with no coordinator."""
    urls = run_blocking(counties(32))
    # two runs reading 32 databases at once on a loaded 2-core machine may take longer than
    # the default 5 s to connect; this test is about exactly-once, not about the timeout
    head = "jobs = 4\nconnect_timeout = 60"
    path = fleet_file(tmp_path / "fleet.toml", named(urls), head=head)
    environ = child_environ(TFSYNC_VERSIONS_DIR=str(fleet_versions), FLEET_PW=SECRET)
    command = [sys.executable, "-m", "terrafusion_sync", "fleet", "upgrade", "--fleet", str(path)]
    runs = [
        subprocess.Popen(
            command,
            cwd=PROJECT_DIR,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=HANG_GUARD * 2) for run in runs]

    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out[-3000:] + err[-3000:]
        assert err == ""
        assert SECRET not in out
        assert "32 of 32 database(s) at the target" in out
    for name in named(urls):  # each database: upgraded by one run, found done by the other
        results = sorted(summary_row(out, name).split("  ")[-1].strip() for out, _ in outputs)
        assert results[-1] == "upgraded", (name, results)
        assert results[0] in {"already at target", "nothing left (done by another run)"}
    assert [run_blocking(upgrades_of_new(url)) for url in urls] == [1] * 32  # the history says
    assert all(run_blocking(at(url)) == (NEW,) for url in urls)

    code, out, _ = run_cli(capsys, "fleet", "status", "--fleet", str(path))
    assert code == 0
    assert "32 database(s): 32 at head, 0 behind, 0 down, 0 broken" in out


def test_the_pre_flight_check_holds_per_database_and_force_passes_through(
    fleet_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    counties: MakeCounties,
    tmp_path: Path,
) -> None:
    """A revision that would fail on one county's rows: planned as such, refused there only."""
    versions = tmp_path / "strict_versions"
    shutil.copytree(VERSIONS_DIR, versions, ignore=shutil.ignore_patterns("__pycache__"))
    head = migrations.script_directory(migrations.alembic_config()).get_current_head()
    strict = "5e7000000001"
    add_revision(
        versions,
        strict,
        head,
        upgrade='op.alter_column("report_jobs", "message", nullable=False)',
        downgrade='op.alter_column("report_jobs", "message", nullable=True)',
        doc="message required",
    )
    fleet_env.setenv("TFSYNC_VERSIONS_DIR", str(versions))
    urls = run_blocking(counties(2))
    run_blocking(
        run_sql(
            urls[1],
            "INSERT INTO report_jobs (report_id, report_type, county_id) VALUES ('r1', 't', 'x')",
        )
    )
    path = str(fleet_file(tmp_path / "fleet.toml", named(urls)))

    code, out, _ = run_cli(capsys, "fleet", "upgrade", "--fleet", path, "--plan")
    assert code == 1  # a revision would fail somewhere: a finding
    assert "  will fail: report_jobs: SET NOT NULL on message, but 1 row(s) hold NULL" in out
    assert out.count("will fail:") == 1
    assert "1 with a revision that would fail there" in out

    code, out, _ = run_cli(capsys, "fleet", "upgrade", "--fleet", path, "--keep-going")
    assert code == 1
    assert re.search(r"upgraded$", summary_row(out, "c00"))
    assert re.search(r"FAILED$", summary_row(out, "c01"))
    assert f"c01: revision {strict} (" in out
    assert "would fail on the rows there: report_jobs: SET NOT NULL on message" in out
    assert run_blocking(at(urls[1])) == (head,)

    code, out, _ = run_cli(capsys, "fleet", "upgrade", "--fleet", path, "--force")
    assert code == 1  # forced past the check, the revision itself fails, rolled back
    assert re.search(r"already at target$", summary_row(out, "c00"))
    assert 'column "message" of relation "report_jobs" contains null values' in out
    assert run_blocking(at(urls[1])) == (head,)


FAILING_BACKFILL = "f1ee70000002"


def test_fleet_backfill_lists_and_cancels_a_failed_backfill_on_every_database(
    fleet_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fleet_versions: Path,
    counties: MakeCounties,
    tmp_path: Path,
) -> None:
    add_revision(  # 100 / n fails at n = 0, on every database alike
        fleet_versions,
        FAILING_BACKFILL,
        NEW,
        'op.execute("CREATE TABLE fleet_counts (id int PRIMARY KEY, n int NOT NULL)")\n'
        'op.execute("INSERT INTO fleet_counts SELECT g, g - 50 FROM generate_series(1, 99) g")\n'
        "op.backfill('fleet_counts', set='n = 100 / n')",
        'op.execute("DROP TABLE fleet_counts")',
        doc="fleet counts",
    )
    urls = run_blocking(counties(2))
    path = fleet_file(tmp_path / "fleet.toml", named(urls))
    assert run_cli(capsys, "fleet", "upgrade", "--fleet", str(path))[0] == 1

    code, out, _ = run_cli(capsys, "fleet", "backfill", "status", "--fleet", str(path))
    assert code == 0
    for name in ("c00", "c01"):
        assert f"{name}: {FAILING_BACKFILL}  fleet_counts  failed " in out
        assert "division by zero" in out

    # a cancel without a reason touches no database
    code, _, err = run_cli(
        capsys, "fleet", "backfill", "cancel", FAILING_BACKFILL, "--fleet", str(path)
    )
    assert code == 2
    assert_one_line_error(err, f"backfill cancel {FAILING_BACKFILL}: a cancel needs a reason")

    code, out, _ = run_cli(
        capsys,
        "fleet", "backfill", "cancel", FAILING_BACKFILL, "--reason", "counts redone by hand",
        "--fleet", str(path),
    )  # fmt: skip
    assert code == 0
    assert sorted(line.split()[:4] for line in out.splitlines()) == [
        ["c00:", FAILING_BACKFILL, "fleet_counts", "cancelled"],
        ["c01:", FAILING_BACKFILL, "fleet_counts", "cancelled"],
    ]
    # now finished: a retry is refused on each database, on its own line
    code, out, _ = run_cli(
        capsys, "fleet", "backfill", "retry", FAILING_BACKFILL, "--fleet", str(path)
    )
    assert code == 1
    for name in ("c00", "c01"):
        assert f"{name}: error: backfill retry {FAILING_BACKFILL}: nothing to retry" in out


def test_fleet_status_shows_waiting_contracts_and_upgrade_contract_applies_them(
    fleet_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    counties: MakeCounties,
    tmp_path: Path,
) -> None:
    """An expand and its contract: the fleet upgrade applies the expand only, says the
    contract waits, and ``fleet upgrade --contract`` applies it on every database."""
    versions = tmp_path / "phased_versions"
    shutil.copytree(VERSIONS_DIR, versions, ignore=shutil.ignore_patterns("__pycache__"))
    head = migrations.script_directory(migrations.alembic_config()).get_current_head()
    expand, contract = "e0a000000001", "c0a000000001"
    add_revision(
        versions,
        expand,
        head,
        # the record the tool's own expand keeps, here long quiet: the contract is proven
        upgrade='op.add_column("report_jobs", sa.Column("note", sa.Text()))\n'
        'op.execute("INSERT INTO tfsync_contract_watch VALUES '
        "('report_jobs', 'message', 'note', now() - interval '1 day')\")",
        downgrade='op.drop_column("report_jobs", "note")',
        header='phase = "expand"',
        doc="note expand",
    )
    add_revision(
        versions,
        contract,
        expand,
        upgrade='op.drop_column("report_jobs", "message")',
        downgrade='op.add_column("report_jobs", sa.Column("message", sa.Text()))',
        header='phase = "contract"\nretires = {"report_jobs.message": "note"}',
        doc="note contract",
    )
    fleet_env.setenv("TFSYNC_VERSIONS_DIR", str(versions))
    urls = run_blocking(counties(2))
    path = str(fleet_file(tmp_path / "fleet.toml", named(urls)))

    code, out, _ = run_cli(capsys, "fleet", "status", "--fleet", path)
    assert code == 0
    assert "1 (+1 contract)" in row(out, "c00")
    assert "2 with contract revisions waiting (fleet upgrade --contract)" in out

    code, out, _ = run_cli(capsys, "fleet", "upgrade", "--fleet", path)
    assert code == 0
    assert [run_blocking(at(url)) for url in urls] == [(expand,), (expand,)]
    code, out, _ = run_cli(capsys, "fleet", "status", "--fleet", path)
    assert "0 (+1 contract)" in row(out, "c01")

    code, out, _ = run_cli(capsys, "fleet", "upgrade", "--fleet", path, "--contract")
    assert code == 0
    assert [run_blocking(at(url)) for url in urls] == [(contract,), (contract,)]


KILLER = "f1ee70000002"
"""A revision after the tiny one whose worker SIGKILLs itself where ``fleet_kill_me`` exists."""


def test_a_worker_killed_mid_upgrade_fails_its_database_alone(
    fleet_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    counties: MakeCounties,
    fleet_versions: Path,
    tmp_path: Path,
) -> None:
    add_revision(
        fleet_versions,
        KILLER,
        NEW,
        header="import os\nimport signal\n",
        upgrade="""
if sa.inspect(op.get_bind()).has_table("fleet_kill_me"):
    os.kill(os.getpid(), signal.SIGKILL)  # a real SIGKILL, inside the revision's transaction
op.create_table("fleet_after", sa.Column("id", sa.Integer()))
""",
        doc="killer",
    )
    urls = run_blocking(counties(4))
    run_blocking(run_sql(urls[1], "CREATE TABLE fleet_kill_me (id int)"))
    path = str(fleet_file(tmp_path / "fleet.toml", named(urls)))

    code, out, _ = run_cli(
        capsys, "fleet", "upgrade", "--fleet", path, "--jobs", "2", "--keep-going"
    )

    assert code == 1
    for name in ("c00", "c02", "c03"):  # the others carried on, two at a time, to the end
        assert re.search(rf"{HEAD}\s+{KILLER}\s+[\d.]+ s\s+upgraded$", summary_row(out, name))
    # the killed one: failed, its revision read back from it (the first revision committed)
    assert re.search(rf"{HEAD}\s+{NEW}\s+[\d.]+ s\s+FAILED$", summary_row(out, "c01"))
    assert (
        "c01: its worker process was killed by SIGKILL during the upgrade; the database is at "
        f"{NEW} (run `tfsync fleet upgrade` again to resume it; it does only what is left)"
    ) in out
    assert run_blocking(at(urls[1])) == (NEW,)

    run_blocking(run_sql(urls[1], "DROP TABLE fleet_kill_me"))
    code, out, _ = run_cli(capsys, "fleet", "upgrade", "--fleet", path)
    assert code == 0
    assert [line.split(":")[0] for line in out.splitlines() if ": started" in line] == ["c01"]
    assert re.search(rf"{NEW}\s+{KILLER}\s+[\d.]+ s\s+upgraded$", summary_row(out, "c01"))
    assert all(run_blocking(at(url)) == (KILLER,) for url in urls)
