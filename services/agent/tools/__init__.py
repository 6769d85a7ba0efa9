"""The tools the assistant can call: calendar (RPC), web search, the clock, the time zone."""
