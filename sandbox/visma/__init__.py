"""A simulator of the Visma eAccounting API v2 (see ASSUMPTIONS.md for what we decided)."""
