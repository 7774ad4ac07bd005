"""Writing revisions: how the models differ from the schema a database has (drift)."""
