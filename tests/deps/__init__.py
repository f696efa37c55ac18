"""The dependency lock and its audit: ``bin/lock`` writes requirements/lock.txt, ``bin/setup``
installs it, ``bin/audit`` (audit.py) checks it against PyPI's advisories."""
