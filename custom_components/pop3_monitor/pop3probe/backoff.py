"""When to poll next: one policy for both front ends, so both treat servers with the same manners.

Auth failures back off exponentially (servers lock accounts and ban addresses that hammer them),
`[IN-USE]` retries sooner (the owner's client holds the maildrop: busy, not down), and the interval
never drops below the server's LOGIN-DELAY.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .defaults import DEFAULT_INTERVAL
from .errors import ErrorClass
from .models import PollSnapshot

MAX_BACKOFF = 6 * 3600.0
IN_USE_RETRY = 60.0


@dataclass
class Backoff:
    interval: float = DEFAULT_INTERVAL
    max_interval: float = MAX_BACKOFF
    in_use_retry: float = IN_USE_RETRY
    login_delay: int = 0  # the server's LOGIN-DELAY, as last advertised
    auth_failures: int = field(default=0)  # consecutive

    @property
    def floor(self) -> float:
        return max(self.interval, float(self.login_delay))

    def next_delay(self, snapshot: PollSnapshot) -> float:
        """Seconds from this poll's end to the next poll."""
        if snapshot.login_delay is not None:
            self.login_delay = snapshot.login_delay
        if snapshot.error is ErrorClass.AUTH_FAILED:
            self.auth_failures += 1
            doubled = self.floor * 2.0 ** (self.auth_failures - 1)
            return min(max(self.max_interval, self.floor), doubled)
        self.auth_failures = 0
        if snapshot.error is ErrorClass.IN_USE:
            return min(self.floor, max(self.in_use_retry, float(self.login_delay)))
        return self.floor
