"""Long work outside the schema transaction: ``op.backfill``, walked in short batches,
resumable after any kill, with its progress."""
