"""Planning ahead: what a revision is measured to do (impact), what an upgrade would do to
this database (plan), and what would fail on its rows (pre-flight)."""
