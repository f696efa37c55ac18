"""The parts of the official API descriptions Koppel's tests check against (see derive.py)."""
