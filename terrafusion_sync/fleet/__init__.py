"""Many databases (one per county) in one command: status, plan, upgrade and backfills.

A fleet file (:mod:`.fleet_file`) names the databases. :mod:`.status` reads them all in
parallel; :mod:`.upgrade` runs each through the same safe upgrade as ``make upgrade``, in
a worker process of its own (:mod:`.pool` starts it, :mod:`.worker` runs in it, and
:mod:`.jobs` is what they say to each other), canaries first, a bounded number at once;
:mod:`.plan` says what would run; :mod:`.backfill` acts on every database's backfills;
:mod:`.display` shows it all; :mod:`.results` is the vocabulary they share. The databases'
own advisory locks and history tables are the only shared state, so several fleet runs
need no coordinator.
"""
