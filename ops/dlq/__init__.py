"""``koppel dlq``: dead letters listed, shown, requeued and purged, queue and table in step."""
