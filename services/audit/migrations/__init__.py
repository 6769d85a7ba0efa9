"""Alembic migrations of the `audit` schema (env.py, versions/).

`migrate(database_url)` runs them; it lives in `services.audit.schema` and is exported
here too, where `switchboard up` looks for it.
"""

from services.audit.schema import migrate

__all__ = ["migrate"]
