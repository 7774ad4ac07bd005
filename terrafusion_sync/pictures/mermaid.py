"""Mermaid text for the two pictures: an ``erDiagram`` of the models and a ``flowchart`` of
the revision history. Every name and message is escaped for the spot it lands in, so a
quote or a bracket in a revision message cannot break the diagram.

What Mermaid 11 accepts (its ``erDiagram`` lexer): an attribute's type and name are one word
of letters, digits and ``_-[]().,*``, so ``varchar(64)`` stays as it is and a space becomes
``_`` (``timestamp_with_time_zone``); a comment is ``"..."`` with no ``"`` inside. In a
flowchart label, ``#quot;``-style entity codes stand for characters Mermaid would read.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Column, ForeignKeyConstraint, MetaData, Table, UniqueConstraint
from sqlalchemy.exc import CompileError

from terrafusion_sync.database import postgresql_dialect
from terrafusion_sync.pictures.lineage import History, Revision

__all__ = ["column_type", "er_diagram", "node_id", "revision_flowchart"]

_NOT_IN_WORD = re.compile(r"[^A-Za-z0-9_\-\[\]().,]")
_KEY_MARK = re.compile(r"(pk|fk|uk)\b", re.IGNORECASE)  # Mermaid reads a word starting so as a key
_ENTITY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ER_KEYWORDS = {"class", "classdef", "direction", "end", "many", "one", "only", "style", "subgraph"}
_ER_KEYWORDS |= {"to", "zero", "erdiagram", "acctitle", "accdescr", "u", "o"}
_DIALECT = postgresql_dialect()
INDENT = "    "


def er_diagram(metadata: MetaData) -> str:
    """Every table with its columns (type, PK/FK/UK marks, a comment for the rest), then
    every foreign key as a relationship from the table it refers to."""
    lines = ["erDiagram"]
    tables = sorted(metadata.tables.values(), key=lambda t: t.fullname)
    for table in tables:
        lines.append(f"{INDENT}{entity(table)} {{")
        lines += [f"{INDENT * 2}{attribute(table, column)}" for column in table.columns]
        lines.append(f"{INDENT}}}")
    relationships = sorted(
        (relationship(fk) for table in tables for fk in table.foreign_key_constraints),
    )
    lines += [f"{INDENT}{line}" for line in relationships]
    return "\n".join(lines) + "\n"


def entity(table: Table) -> str:
    """The table's name as a Mermaid entity: bare when a plain word, else quoted."""
    return _entity_name(table.fullname)


def _entity_name(name: str) -> str:
    if _ENTITY.fullmatch(name) and name.lower() not in _ER_KEYWORDS:
        return name
    return '"' + name.replace('"', "'") + '"'


def column_type(column: Column[Any]) -> str:
    """The column's PostgreSQL type as one Mermaid word: ``varchar(64)``, ``numeric(14,2)``,
    ``timestamp_with_time_zone``."""
    try:
        compiled = column.type.compile(dialect=_DIALECT)
    except CompileError:
        compiled = type(column.type).__name__
    return _word(compiled.lower().replace(", ", ","))


def attribute(table: Table, column: Column[Any]) -> str:
    """``type name KEYS "comment"``: keys PK, FK, UK; the comment says NOT NULL, a unique
    constraint shared with other columns, and the real name when it had to be escaped."""
    keys = []
    if column.primary_key:
        keys.append("PK")
    if column.foreign_keys:
        keys.append("FK")
    together = _unique_with(table, column)
    if together is not None:
        keys.append("UK")
    notes = []
    if not column.nullable and not column.primary_key:
        notes.append("not null")
    if together:
        notes.append("unique with " + ", ".join(together))
    values = getattr(column.type, "enums", None)
    if values and getattr(column.type, "native_enum", False):
        notes.append("one of " + ", ".join(values))
    name = _word(column.name)
    if name != column.name:
        notes.append(f"column {column.name}")
    text = f"{column_type(column)} {name}"
    if keys:
        text += " " + ", ".join(keys)
    if notes:
        text += ' "' + "; ".join(notes).replace('"', "'") + '"'
    return text


def relationship(fk: ForeignKeyConstraint) -> str:
    """``parent ||--o{ child : "cols -> referred cols"``: exactly one parent when the
    columns are NOT NULL (else zero or one); at most one child when they are unique."""
    child = fk.table
    columns = list(fk.columns)
    parent_side = "||" if all(not c.nullable for c in columns) else "|o"
    names = {c.name for c in columns}
    one_child = any(unique <= names for unique in _unique_sets(child))
    child_side = "o|" if one_child else "o{"
    # by name, as written: the referred table may be outside the metadata (another schema)
    table_name, _, _ = fk.elements[0].target_fullname.rpartition(".")
    referred = [e.target_fullname.rpartition(".")[2] for e in fk.elements]
    label = f"{', '.join(c.name for c in columns)} -> {', '.join(referred)}".replace('"', "'")
    parent = _entity_name(table_name)
    return f'{parent} {parent_side}--{child_side} {entity(child)} : "{label}"'


def _unique_sets(table: Table) -> list[frozenset[str]]:
    """The column names of each way ``table`` keeps rows unique: its primary key, unique
    constraints, unique indexes, ``unique=True`` columns."""
    sets = [frozenset(c.name for c in table.primary_key.columns)]
    sets += [
        frozenset(c.columns.keys())
        for c in table.constraints
        if isinstance(c, UniqueConstraint) and c.columns
    ]
    sets += [frozenset(c.name for c in i.columns) for i in table.indexes if i.unique]
    sets += [frozenset([c.name]) for c in table.columns if c.unique]
    return [s for s in sets if s]


def _unique_with(table: Table, column: Column[Any]) -> list[str] | None:
    """None when no unique constraint (other than the primary key) holds ``column``; else
    the other columns of the smallest one (empty: the column is unique alone)."""
    primary = frozenset(c.name for c in table.primary_key.columns)
    found = [
        sorted(unique - {column.name})
        for unique in _unique_sets(table)
        if column.name in unique and unique != primary
    ]
    return min(found, key=lambda names: (len(names), names)) if found else None


def _word(text: str) -> str:
    """``text`` as one Mermaid attribute word: spaces and other characters become ``_``."""
    word = _NOT_IN_WORD.sub("_", text)
    if not re.match(r"[A-Za-z_]", word) or _KEY_MARK.match(word):
        word = "_" + word
    return word


# -- the revision history ---------------------------------------------------------------

_LABEL_ENTITIES = {
    "#": "#35;",
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "&": "#amp;",
    "`": "#96;",
    "\\": "#92;",
}
_CLASSES = {
    "head": "stroke-width:4px",
    "merge": "fill:#fff4d6,stroke:#b8860b",
    "branch": "fill:#e3f0ff,stroke:#3b6fb6",
}


def revision_flowchart(history: History) -> str:
    """Base at the top, each edge from a revision to the one built on it. A merge is a
    hexagon, a branch point and the head say so in their label (and in their colour)."""
    lines = ["flowchart TD"]
    marked: dict[str, list[str]] = {name: [] for name in _CLASSES}
    heads = set(history.heads)
    if not history.revisions:
        lines.append(f'{INDENT}base(["no revisions yet"])')
    for rev in history.revisions:
        notes = []
        if history.is_merge(rev):
            notes.append("merge of " + " + ".join(rev.parents))
            marked["merge"].append(node_id(rev.id))
        if history.is_branch_point(rev):
            notes.append("branch point")
            marked["branch"].append(node_id(rev.id))
        if rev.id in heads:
            notes.append("head")
            marked["head"].append(node_id(rev.id))
        lines.append(f"{INDENT}{_node(rev, notes, history.is_merge(rev))}")
    for rev in history.revisions:
        for parent in rev.parents:
            lines.append(f"{INDENT}{node_id(parent)} --> {node_id(rev.id)}")
        for needed in rev.depends_on:
            lines.append(f"{INDENT}{node_id(needed)} -.->|depends on| {node_id(rev.id)}")
    for name, style in _CLASSES.items():
        lines.append(f"{INDENT}classDef {name} {style}")
    for name, nodes in marked.items():
        if nodes:
            lines.append(f"{INDENT}class {','.join(nodes)} {name}")
    return "\n".join(lines) + "\n"


def node_id(revision: str) -> str:
    """A flowchart node id for a revision id: letters and digits kept, anything else
    written as ``_<hex>_``, so two revisions never share a node."""
    return "rev_" + "".join(
        ch if ch.isascii() and ch.isalnum() else f"_{ord(ch):x}_" for ch in revision
    )


def _node(rev: Revision, notes: list[str], merge: bool) -> str:
    parts = [rev.id + (f" [{', '.join(rev.branch_labels)}]" if rev.branch_labels else "")]
    parts.append(rev.message or "(no message)")
    if notes:
        parts.append("(" + "; ".join(notes) + ")")
    label = "<br/>".join(label_text(p) for p in parts)
    opening, closing = ("{{", "}}") if merge else ("(", ")")
    return f'{node_id(rev.id)}{opening}"{label}"{closing}'


def label_text(text: str) -> str:
    """``text`` safe inside a quoted flowchart label: Mermaid's entity codes for the
    characters it would otherwise read (quotes, ``#``, markup)."""
    return "".join(_LABEL_ENTITIES.get(ch, ch) for ch in text)
