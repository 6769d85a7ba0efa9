"""Transcriber: every received message becomes text for the agent, in order.

Typed text passes through; voice notes are downloaded from Twilio (guarded, capped)
and transcribed by the local Whisper engine or the OpenAI transcription API; other
attachments are described. Failures become a text event that says what went wrong.
"""
