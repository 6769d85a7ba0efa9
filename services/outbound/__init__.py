"""Outbound: replies delivered through the Twilio REST API, each part exactly once."""
