"""Local stand-ins for external systems, speaking their real HTTP APIs on loopback."""
