"""``koppel mappings``: how a connection books into Visma, proposed, checked and changed."""
