"""``koppel backfill``: the one-time export from a date, previewed before anything is written."""
