"""Every default of a mailbox's settings and the rules both front ends share, defined once.

The exporter's configuration, its one-shot check and the Home Assistant integration import
these instead of writing their own numbers, so a mailbox behaves the same under either.
"""

from __future__ import annotations

from typing import Final

from .errors import ErrorClass

DEFAULT_TIMEOUT: Final = 30.0  # seconds for one whole poll
DEFAULT_INTERVAL: Final = 300.0  # seconds between polls; a login locks the owner's maildrop
DEFAULT_MAX_HEADERS_PER_POLL: Final = 50  # TOPs one poll may spend re-identifying messages

# "Busy, not down": the server let us in (so the credentials are good) but refused this session
# ([IN-USE]: the owner's client holds the maildrop; [LOGIN-DELAY]: too soon after the last
# login). The last good data stays valid and the mailbox is not reported down.
BUSY_ERRORS: Final = frozenset({ErrorClass.IN_USE, ErrorClass.LOGIN_DELAY})
