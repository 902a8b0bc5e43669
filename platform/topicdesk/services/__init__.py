"""Use cases: one function each, dependencies passed in."""
