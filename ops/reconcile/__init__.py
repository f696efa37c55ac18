"""``koppel reconcile``: both books compared, per document, to the cent."""
