"""``koppel connections``: list, pause, resume and remove connections."""
