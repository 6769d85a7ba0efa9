"""A user's data is theirs: erasure, export and retention across every store (docs/privacy.md)."""
