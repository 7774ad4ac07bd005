"""Post-write hooks of this package run in the process that wrote the revision.

``alembic.ini`` names ``terrafusion_sync.pictures.follow`` as a ``module`` hook, so plain
``alembic revision`` runs it as ``python -m …``, in a new interpreter. Every config the
core builds (:func:`~.config.alembic_config`) turns such a hook of our own package into
:data:`IN_PROCESS`, which calls the same module's ``main(argv)`` here instead: the writer
has SQLAlchemy, Alembic, the models and the revisions loaded already, and a new interpreter
spends about half a second of CPU importing them again, for every revision written.

Ruff stays a process, as Alembic runs it, but its own: ``python -m ruff`` starts an
interpreter only to find ruff's binary and run it (some 20 ms of CPU, twice a revision), so
a ``module`` hook of ruff becomes Alembic's ``exec`` hook of that binary, found the way
``python -m ruff`` finds it (:func:`ruff.find_ruff_bin`), with the same options.
"""

from __future__ import annotations

import importlib
import re
import shlex
import sys
from collections.abc import Callable, Mapping
from functools import cache
from typing import cast

from alembic.config import Config
from alembic.script import write_hooks

from terrafusion_sync.settings import mask_text

IN_PROCESS = "tfsync_in_process"
"""The hook type (Alembic's registry) of a module hook run in this process."""
OWN_PACKAGE = "terrafusion_sync."
"""Module hooks under this prefix are ours, and have a ``main(argv) -> int``."""
RUFF = "ruff"
"""The module of a hook run as ruff's binary instead (Alembic's ``exec`` type)."""
SECTION = "post_write_hooks"
FILE_TOKEN = "REVISION_SCRIPT_FILENAME"
"""Alembic's placeholder for the revision file in a hook's ``options``."""


@write_hooks.register(IN_PROCESS)
def run_in_process(path: str, options: Mapping[str, str]) -> None:
    """Call ``main(argv)`` of the hook's module, with the options Alembic would pass it.

    As with Alembic's ``module`` hook, neither its exit code nor its crash is an error of
    the command: the revision is written. A crash is a one-line note on stderr (a process
    would have printed its traceback and exited 1, which Alembic ignores).
    """
    try:
        module = importlib.import_module(options["module"])
        main = cast(Callable[[list[str]], int], module.main)
        main(hook_argv(options.get("options", ""), path))
    except Exception as exc:  # a hook never fails the revision it follows
        note = mask_text(f"post-write hook {options['module']} failed: {exc!r}")
        print(f"tfsync: note: {note}", file=sys.stderr)


def hook_argv(options: str, path: str) -> list[str]:
    """The arguments of a hook: its ``options`` with the revision file in place of the
    placeholder, or first when the options do not name it (Alembic's rule)."""
    if FILE_TOKEN not in options:
        options = f"{FILE_TOKEN} {options}"
    return [word.replace(FILE_TOKEN, path) for word in shlex.split(options)]


def run_own_hooks_in_process(cfg: Config) -> None:
    """Turn ``cfg``'s module hooks of this package (with no ``cwd`` of their own) into
    :data:`IN_PROCESS` ones, and its module hooks of ruff into ``exec`` hooks of ruff's
    binary; other hooks, and hooks set in ``pyproject.toml``, are left as they are."""
    if not cfg.file_config.has_section(SECTION):
        return

    def option(name: str, key: str) -> str | None:
        return cfg.get_section_option(SECTION, f"{name}.{key}")

    # the ini format Alembic documents: `hooks` names them, `<name>.<key>` sets each
    for name in re.split(r"[,\s]+", cfg.get_section_option(SECTION, "hooks") or ""):
        if option(name, "type") != "module" or option(name, "cwd") is not None:
            continue
        module = option(name, "module") or ""
        if module.startswith(OWN_PACKAGE):
            cfg.set_section_option(SECTION, f"{name}.type", IN_PROCESS)
        elif module == RUFF and (binary := ruff_binary()) is not None:
            cfg.set_section_option(SECTION, f"{name}.type", "exec")
            cfg.set_section_option(SECTION, f"{name}.executable", binary)


@cache
def ruff_binary() -> str | None:
    """The ruff binary ``python -m ruff`` would run, or None where ruff is not installed
    (the hook stays a module hook, and Alembic says what is missing). Looked up once a
    process: every config the core builds asks."""
    try:
        ruff = importlib.import_module(RUFF)  # ruff's package ships no types
        return str(ruff.find_ruff_bin())
    except (ImportError, FileNotFoundError):
        return None
