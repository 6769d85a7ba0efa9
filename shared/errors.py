"""How a handler tells its stage what kind of failure it hit.

The stage's ack policy (`shared.consumer`) acts on the class of the exception:

- `PermanentFailure`: retrying cannot help (bad input, a deterministic error); the event
  is dead-lettered at once.
- `DependencyUnavailable`: something the handler needs (Postgres, the calendar, Twilio's
  credentials, the LLM provider) is down or refusing us. That is not the event's fault, so
  it never spends the event's delivery budget: the stage keeps the event and tries again
  after a capped backoff, for as long as the outage lasts.
- any other exception: a possibly transient failure of this event; retried with backoff
  up to `MAX_DELIVER` deliveries, then dead-lettered.
"""

from __future__ import annotations


class PermanentFailure(Exception):
    """Raised by a handler when retrying cannot help: the event is dead-lettered at once."""


class DependencyUnavailable(Exception):
    """Raised by a handler when a dependency is down: retried without spending a delivery."""


class Misconfigured(Exception):
    """Raised at start-up when the configuration is wrong in a way found only by connecting
    (a superuser's database URL in production): the worker exits 78 and is not restarted."""
