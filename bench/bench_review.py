"""The review gate against pytest-alembic, and against the usual hand-glued stack.

On one generated chain (``bench/chain.py``, in a temporary folder, never the project's
``versions/``), measured side by side in this run:

- our full review (structure, unsafe SQL through squawk, stairway up/down/up of every
  revision with schema snapshots, drift, seal) vs pytest-alembic's four built-in tests
  (single head, upgrade, model definitions match DDL, up/down consistency);
- our incremental review (the pre-commit case: the newest revision changed) vs the same;
- our full review vs squawk + ``alembic check`` + pytest-alembic run one after another.

Every figure is a fresh process, as a person or pre-commit runs it, on scratch databases
of the test server (``TEST_DATABASE_URL``, or the embedded cluster) that are dropped after.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from sqlalchemy import Column, Index, Integer, MetaData, Numeric, String, Table
from sqlalchemy.engine import make_url

from bench.chain import fresh, plain_alembic_project, write_chain
from bench.timing import report, timed
from terrafusion_sync.embedded import database_url
from terrafusion_sync.provision import drop_database
from terrafusion_sync.review.squawk import squawk_binary
from terrafusion_sync.settings import PROJECT_DIR, child_environ, load_settings

CHAIN_LENGTH = int(os.environ.get("BENCH_CHAIN_LENGTH", "40"))
ALTERING = int(os.environ.get("BENCH_ALTERING", "10"))
"""Revisions after the chain that change existing tables (so the measurement has work)."""

ALTER = '''"""alter step {index:04d}

Revision ID: {rev}
Revises: {down}
"""

import sqlalchemy as sa
from alembic import op

revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("{table}", "value", type_=sa.Numeric({new}, 2))


def downgrade() -> None:
    op.alter_column("{table}", "value", type_=sa.Numeric({old}, 2))
'''


def write_altering(versions: Path, after: str, count: int) -> list[str]:
    """``count`` revisions after ``after``, in pairs on one chain table each: widen
    ``value`` (a catalog change), then narrow it back (a rewrite); the models still match."""
    ids = []
    down = after
    for index in range(count):
        rev = f"a{index:011x}"
        table = f"chain_{index // 2:04d}"
        new, old = (16, 14) if index % 2 == 0 else (14, 16)
        text = ALTER.format(index=index, rev=rev, down=down, table=table, new=new, old=old)
        (versions / f"2026_01_02_0000-{rev}_alter_step_{index:04d}.py").write_text(text)
        ids.append(rev)
        down = rev
    return ids


REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))

CONFTEST = """
import asyncio
import secrets
from pathlib import Path

import pytest
import pytest_alembic
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bench.bench_review import chain_metadata
from terrafusion_sync.provision import drop_database, ensure_database
from terrafusion_sync.migrations import alembic_config as project_config
VERSIONS = Path({versions!r})
SERVER = make_url({server!r})


@pytest.fixture
def alembic_config():
    # pytest-alembic sets target_metadata from its own options, over the config's
    # the chain has none of the project's views, functions or triggers (objects=())
    metadata = chain_metadata({length})
    cfg = project_config(versions_dir=VERSIONS, target_metadata=metadata, objects=())
    return pytest_alembic.Config(
        alembic_config=cfg,
        config_options={{
            "target_metadata": metadata,
            "script_location": cfg.get_main_option("script_location"),
        }},
    )


@pytest.fixture
def alembic_engine():
    url = SERVER.set(database=f"tfsync_bench_pa_{{secrets.token_hex(4)}}_{{SERVER.database}}")
    asyncio.run(ensure_database(url))
    engine = create_async_engine(url, poolclass=NullPool)
    yield engine
    asyncio.run(engine.dispose())
    asyncio.run(drop_database(url))
"""

MODELS = """
from bench.bench_review import chain_metadata

metadata = chain_metadata({length})
"""


def chain_metadata(length: int) -> MetaData:
    """The models a generated chain of ``length`` revisions builds (for drift checks)."""
    metadata = MetaData()
    for index in range(length):
        table = Table(
            f"chain_{index:04d}",
            metadata,
            Column("id", Integer, primary_key=True),
            Column("name", String(64), nullable=False),
            Column("value", Numeric(14, 2)),
        )
        Index(f"ix_chain_{index:04d}_name", table.c.name)
    return metadata


def review_chain(
    server: str, versions: str, length: str, changed: str = "", measure: str = "1"
) -> None:
    """One review of the chain in ``versions`` (``changed``: incremental, that file only;
    ``measure`` "0": without measuring the revisions)."""
    from collections import Counter

    from terrafusion_sync.migrations import alembic_config
    from terrafusion_sync.review import review

    metadata = chain_metadata(int(length))
    # the chain has none of the project's views, functions or triggers, as for pytest-alembic
    cfg = alembic_config(versions_dir=Path(versions), target_metadata=metadata, objects=())
    files = [Path(changed)] if changed else None
    done = asyncio.run(
        review(make_url(server), cfg=cfg, lint=False, files=files, measure=measure != "0")
    )
    codes = Counter(f.code for f in done.findings)
    print(f"{done.revisions} revisions reviewed, findings by code: {dict(codes) or 'none'}")


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, ok: int = 1) -> str:
    """``args``' output; exit codes above ``ok`` (1: the tools' "found something") raise."""
    done = subprocess.run(
        args, cwd=cwd or PROJECT_DIR, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode > ok:
        raise RuntimeError(f"{args[:4]} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def main() -> None:
    server = database_url(load_settings(), test=True)
    raw = server.render_as_string(hide_password=False)
    with tempfile.TemporaryDirectory(prefix="tfsync-bench-review-") as tmp:
        root = Path(tmp)
        versions = root / "versions"
        ids = write_chain(versions, CHAIN_LENGTH)
        ids += write_altering(versions, ids[-1], ALTERING)
        newest = str(next(versions.glob(f"*{ids[-1]}*.py")))
        print(
            f"chain: {CHAIN_LENGTH} revisions creating tables, {ALTERING} altering them; "
            f"median of {REPEAT} runs each",
            flush=True,
        )

        def ours(changed: str = "", measure: str = "1") -> str:
            return run(
                sys.executable,
                "-c",
                "import sys; from bench.bench_review import review_chain; "
                "review_chain(*sys.argv[1:])",
                raw,
                str(versions),
                str(CHAIN_LENGTH),
                changed,
                measure,
                ok=0,  # review_chain prints its findings; an exit code is a crash
            )

        print("full review:", ours().strip(), flush=True)
        print("full review, not measured:", ours(measure="0").strip(), flush=True)
        print("incremental review:", ours(newest).strip(), flush=True)

        pa_dir = root / "pytest_alembic"
        pa_dir.mkdir()
        (pa_dir / "conftest.py").write_text(
            CONFTEST.format(versions=str(versions), server=raw, length=CHAIN_LENGTH)
        )
        (pa_dir / "pytest.ini").write_text(
            "[pytest]\npytest_alembic_tests_path = conftest.py\n"
            "asyncio_default_fixture_loop_scope = function\n"
        )
        pa_env = child_environ(PYTHONPATH=str(PROJECT_DIR))

        def pytest_alembic() -> str:
            return run(
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--test-alembic",
                str(pa_dir),
                cwd=pa_dir,
                env=pa_env,
            )

        summary = pytest_alembic().strip().splitlines()
        print("pytest-alembic:", summary[-1] if summary else "(no output)", flush=True)
        if not summary or not summary[-1].startswith("4 passed"):
            # a comparison with a run that stopped early would flatter neither side honestly
            raise RuntimeError("pytest-alembic's four tests must pass on the chain: see above")

        stack_url = server.set(database=f"tfsync_bench_stack_{server.database}")
        ini = plain_alembic_project(root / "plain", stack_url, versions)
        (root / "plain" / "chain_models.py").write_text(MODELS.format(length=CHAIN_LENGTH))
        env_py = root / "plain" / "migrations" / "env.py"
        env_py.write_text(
            env_py.read_text().replace(
                "target_metadata = None", "from chain_models import metadata as target_metadata"
            )
        )
        stack_env = child_environ(PYTHONPATH=f"{root / 'plain'}{os.pathsep}{PROJECT_DIR}")
        alembic = [sys.executable, "-m", "alembic", "-c", str(ini)]
        squawk = squawk_binary()

        def stack() -> None:
            fresh(stack_url)
            try:
                sql = run(*alembic, "upgrade", "head", "--sql", cwd=root / "plain", env=stack_env)
                (root / "chain.sql").write_text(sql)
                run(squawk, str(root / "chain.sql"))
                run(*alembic, "upgrade", "head", cwd=root / "plain", env=stack_env)
                run(*alembic, "check", cwd=root / "plain", env=stack_env)
                pytest_alembic()
            finally:
                asyncio.run(drop_database(stack_url))

        full = timed(ours, REPEAT)
        unmeasured = timed(lambda: ours(measure="0"), REPEAT)
        incremental = timed(lambda: ours(newest), REPEAT)
        builtins = timed(pytest_alembic, REPEAT)
        glued = timed(stack, REPEAT)
        report(
            "full review measured vs not measured (goal: at most 1.20)",
            ("measured", full),
            ("not measured", unmeasured),
        )
        report(
            "full review vs pytest-alembic built-ins (goal: at most 0.50)",
            ("review", full),
            ("pytest-alembic", builtins),
        )
        report(
            "incremental review (1 changed revision) vs pytest-alembic built-ins",
            ("review", incremental),
            ("pytest-alembic", builtins),
        )
        report(
            "full review vs squawk + alembic check + pytest-alembic",
            ("review", full),
            ("stack", glued),
        )
        report(
            "incremental review vs squawk + alembic check + pytest-alembic",
            ("review", incremental),
            ("stack", glued),
        )


if __name__ == "__main__":
    main()
