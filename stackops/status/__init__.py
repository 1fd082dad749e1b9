"""`inv status`: one screen for an environment — its services, alarms, certificate, database and state.

- `collect`: the reads (concurrent), into one JSON-ready snapshot; a section that fails says why.
- `render`: that snapshot as tables, or as JSON.
"""
