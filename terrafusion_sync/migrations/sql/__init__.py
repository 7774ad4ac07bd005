"""Reading SQL: what a statement does to which table, with PostgreSQL's own parser (pglast).

The bottom of the core: it imports nothing of the migrations core.
"""
