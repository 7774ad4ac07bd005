"""What a squash saves: a fresh upgrade of a generated 200-revision history, before and
after ``tfsync squash`` folded it into one baseline.

Every new database, test template and review stairway replays the whole chain; after the
squash they run one revision. Both chains (bench/chain.py's 200 revisions, and a copy
squashed through its last revision, in a temporary git repository) are upgraded from
empty through the same core (``migrations.upgrade``) on scratch databases of the test
server, taking turns; figures are medians. The squash itself (its two scratch databases
and the proof) is timed once, as the one-off it is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import URL

from bench.chain import fresh, revision_id, write_chain
from bench.timing import compare
from terrafusion_sync import migrations
from terrafusion_sync.aio import run_blocking
from terrafusion_sync.embedded import database_url
from terrafusion_sync.migrations.chain.squash import squash
from terrafusion_sync.provision import drop_database
from terrafusion_sync.settings import load_settings

CHAIN = 200
REPEAT = 5


def committed_chain(root: Path) -> Path:
    """``bench/chain.py``'s chain in a git repository of its own; its versions folder."""
    versions = root / "versions"
    write_chain(versions, CHAIN)
    for argv in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-qm", "c"],
    ):
        subprocess.run(["git", *argv], cwd=root, check=True, capture_output=True)
    return versions


def figures(server: URL, work: Path) -> None:
    """The one-off squash, then fresh upgrades of both chains side by side."""
    long_versions = committed_chain(work / "long")
    short_root = work / "short"
    shutil.copytree(work / "long", short_root)
    short_versions = short_root / "versions"
    start = time.perf_counter()
    done = run_blocking(
        squash(
            revision_id(CHAIN - 1),
            cfg=migrations.alembic_config(versions_dir=short_versions),
            scratch_server=server,
        )
    )
    print(
        f"squash of {len(done.replaced)} revisions (two scratch databases, pg_dump, "
        f"{done.compared} catalog facts compared): {time.perf_counter() - start:.3f} s, once"
    )
    url = server.set(database=f"tfsync_bench_squash_{os.getpid()}")

    def upgrade(versions: Path) -> None:
        run_blocking(migrations.upgrade(url, cfg=migrations.alembic_config(versions_dir=versions)))

    try:
        compare(
            f"fresh upgrade to head, {CHAIN}-revision history",
            ("squashed (1 baseline)", f"{CHAIN} revisions"),
            lambda: upgrade(short_versions),
            lambda: upgrade(long_versions),
            REPEAT,
            lambda: fresh(url),
        )
    finally:
        run_blocking(drop_database(url))


def main() -> None:
    """Print every figure of this benchmark."""
    server = database_url(load_settings(), test=True)
    with tempfile.TemporaryDirectory(prefix="bench_squash_") as tmp:
        figures(server, Path(tmp))


if __name__ == "__main__":
    main()
