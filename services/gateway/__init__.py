"""The gateway: Twilio's webhooks in, events on the stream out, in milliseconds."""
