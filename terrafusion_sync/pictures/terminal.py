"""The revision history as plain text for a terminal, oldest first, drawn like
``git log --graph``: one lane per open branch, ``|\\`` where history branches, ``|/`` where
it merges. Readable without colours: every mark is also a word."""

from __future__ import annotations

from collections.abc import Collection

from terrafusion_sync.pictures.lineage import History

__all__ = ["LEGEND", "text_graph"]

CURRENT, APPLIED, PENDING = "@", "o", "+"
LEGEND = f"{CURRENT} current, {APPLIED} applied, {PENDING} pending; oldest first"


def text_graph(
    history: History, current: Collection[str] = (), pending: Collection[str] = ()
) -> list[str]:
    """One line per revision (its glyph in its lane, id, message, marks) and the lines
    that join or split lanes between them."""
    applied = history.ancestors(tuple(current))
    heads = set(history.heads)
    lanes: list[str] = []  # each lane leads to the revision named
    rows: list[tuple[str, str]] = []  # (graph, text); text is empty on connector lines
    for rev in history.revisions:
        if rev.id not in lanes:
            lanes.append(rev.id)  # a root: a new lane
        col = lanes.index(rev.id)
        if lanes.count(rev.id) > 1:  # several parents' lanes end here: join them
            kept = [i for i, t in enumerate(lanes) if t != rev.id or i == col]
            ends = [kept.index(i) if i in kept else col for i in range(len(lanes))]
            rows += [(r, "") for r in _moves(list(range(len(lanes))), ends)]
            lanes = [lanes[i] for i in kept]
        glyph = CURRENT if rev.id in current else APPLIED if rev.id in applied else PENDING
        if rev.id not in applied and rev.id not in pending:
            glyph = "."  # neither applied nor to be applied (an unrelated branch)
        graph = " ".join(glyph if i == col else "|" for i in range(len(lanes)))
        rows.append((graph, _text(history, rev.id, current, pending, heads)))
        children = list(history.children(rev.id))
        before = list(range(len(lanes)))
        if children:
            spread = len(children) - 1
            starts = [*before[: col + 1], *([col] * spread), *before[col + 1 :]]
            ends = list(range(len(lanes) + spread))
            lanes = [*lanes[:col], *children, *lanes[col + 1 :]]
        else:  # a head: its lane ends, the lanes right of it move left
            starts = before[:col] + before[col + 1 :]
            ends = list(range(len(lanes) - 1))
            lanes = lanes[:col] + lanes[col + 1 :]
        rows += [(r, "") for r in _moves(starts, ends)]
    width = max((len(graph) for graph, text in rows if text), default=0)
    return [f"{graph.ljust(width)}  {text}" if text else graph.rstrip() for graph, text in rows]


def _text(
    history: History,
    rev_id: str,
    current: Collection[str],
    pending: Collection[str],
    heads: set[str],
) -> str:
    rev = history.get(rev_id)
    marks = []
    if rev_id in current:
        marks.append("current")
    if rev_id in pending:
        marks.append("pending")
    if rev_id in heads:
        marks.append("head")
    if history.is_merge(rev):
        marks.append("merge of " + " + ".join(rev.parents))
    if history.is_branch_point(rev):
        marks.append("branch point")
    text = f"{rev.id}  {rev.message}"
    return text + (f"  [{', '.join(marks)}]" if marks else "")


def _moves(starts: list[int], ends: list[int]) -> list[str]:
    """Connector lines taking each lane from column ``starts[i]`` to ``ends[i]``, one
    column per line: ``|`` stays, ``\\`` moves right, ``/`` moves left."""
    pos, rows = list(starts), []
    while pos != ends:
        cells: dict[int, str] = {}
        for k, (at, end) in enumerate(zip(pos, ends, strict=True)):
            if at < end:
                cells[2 * at + 1] = "\\"
                pos[k] = at + 1
            elif at > end:
                cells[2 * at - 1] = "/"
                pos[k] = at - 1
            else:
                cells.setdefault(2 * at, "|")
        rows.append("".join(cells.get(i, " ") for i in range(max(cells) + 1)))
    return rows
