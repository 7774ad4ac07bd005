"""Long work outside the schema transaction: ``op.backfill``, walked in short batches,
resumable after any kill, with its progress; mended, paused or cancelled by an operator.

One idea per module: what a call asks and its record (:mod:`.calls`), the keyset SQL
(:mod:`.keyset`), the batch size (:mod:`.pacing`), the walk (:mod:`.walk`) and the
progress row it moves on (:mod:`.ledger`), the backfills still to run (:mod:`.pending`)
and a mended file's call (:mod:`.mending`), where each stands (:mod:`.states`), what an
operator may do (:mod:`.operator`), and the operation Alembic knows (:mod:`.ops`).
"""
