"""Many databases (one per county) in one command: status, plan and upgrade.

A fleet file (:mod:`.fleet_file`) names the databases. :mod:`.status` reads them all in
parallel; :mod:`.upgrade` runs each through the same safe upgrade as ``make upgrade``, in
worker processes (:mod:`.pool`, :mod:`.worker`), canaries first, a bounded number at once;
:mod:`.plan` says what would run; :mod:`.display` shows it. The databases' own advisory
locks and history tables are the only shared state, so several fleet runs need no
coordinator.
"""
