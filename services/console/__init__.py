"""The operator console: conversations, timelines, dead letters and system health, in a browser."""
