"""`python -m services.calendar`: the calendar micro service."""

from __future__ import annotations

import asyncio

from services.calendar.config import CalendarSettings
from shared.settings import load_settings

if __name__ == "__main__":
    config = load_settings(CalendarSettings, "calendar")
    from services.calendar.bootstrap import main  # the heavy imports, once the configuration is good

    asyncio.run(main(config))
