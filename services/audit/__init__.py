"""audit: the append-only record of every event, and the read models built from it."""
