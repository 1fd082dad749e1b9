"""The database's safety net: snapshots before migrations (`inv migrate`), `inv db.snapshots`, `inv db.restore`."""
