"""The ``koppel`` command line (``ops/cli.py``), a package per feature.

``cli.py`` is the click group, loading each command when it is used. Shared by the commands:
``options.py`` (``--connection``, ``--wide``/``--json``, declared once), ``lookups.py`` (the
connections ``--connection`` names, a connection's API clients), ``console.py`` (the rich
console and the shapes of a listing) and ``time_text.py`` (moments and durations as text).
``admin.py`` sets a machine up (``migrate``, ``check``, ``keygen``). Each feature package
holds a ``command.py`` that parses options and prints, next to the modules, without click,
that do the work: ``connect/``, ``connections/``, ``mappings/``, ``backfill/``, ``dlq/``,
``status/``, ``history/``. ``processes/`` holds the long-running ``poll``, ``work``, ``sync``
and ``webhooks``; ``dev/`` the ``demo`` and the ``sandbox``.
"""
