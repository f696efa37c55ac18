"""``koppel status``: is Koppel healthy? Polls, queue depths, failures and tokens."""
