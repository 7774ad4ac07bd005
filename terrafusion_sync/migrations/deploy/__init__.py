"""The safe deploy: upgrade and downgrade under a lock and timeouts, with history, validation
of applied files and the data-loss guard."""
