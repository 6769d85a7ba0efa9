"""Reminders: what is due when (a key-value bucket), the timers that fire them (JetStream
message schedules), and sending them within WhatsApp's rules (24-hour window, templates,
opt-out, quiet hours). A library: the agent sets reminders, the outbound worker sends them."""
