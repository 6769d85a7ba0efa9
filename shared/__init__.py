"""What every Switchboard service shares: events, the bus, settings, logging, health."""
