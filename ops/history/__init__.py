"""``koppel history``: one document's timeline, found by Teamleader id or number."""
