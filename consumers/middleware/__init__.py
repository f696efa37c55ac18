"""Dramatiq middleware of Koppel's consumers, one concern per module (as Dramatiq does)."""
