"""``koppel connect``: authorise both services, pick the department, store the connection."""
