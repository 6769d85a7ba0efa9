"""The Switchboard operator CLI and local stack."""
