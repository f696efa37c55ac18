"""The long-running processes: ``koppel poll``, ``work``, ``sync`` and ``webhooks``."""
