"""`--shard I/N`: a stable split of the configured mailboxes between N replicas.

The hash is of the mailbox name only (SHA-256, not Python's salted `hash()`), so every replica
computes the same split from the same config, and a restart never moves a mailbox.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_PATTERN = re.compile(r"^(\d+)/(\d+)$")


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """'0/2' -> Shard(0, 2). Raises ValueError with a readable reason."""
        match = _PATTERN.match(text.strip())
        if not match:
            raise ValueError(f"expected I/N such as 0/2, got {text!r}")
        index, count = int(match[1]), int(match[2])
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"shard index must be between 0 and N-1, got {text!r}")
        return cls(index, count)

    def contains(self, mailbox_name: str) -> bool:
        return shard_of(mailbox_name, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(mailbox_name: str, count: int) -> int:
    digest = hashlib.sha256(mailbox_name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count
