"""A local Twilio emulator: the Messages API subset Switchboard uses, media hosting,
signed webhooks and status callbacks, all on loopback.

`switchboard up` runs it when no Twilio credentials are configured; tests use it to
drive the real `twilio` library and the gateway exactly as Twilio would.
"""
