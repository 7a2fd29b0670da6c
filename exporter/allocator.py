"""Keeps glibc from holding on to the memory of large, short-lived buffers (Linux only).

Each /metrics body and state-file text is one buffer of about 1.5-3 KiB per mailbox, built in a
worker thread and dropped once sent. glibc serves a first such buffer with mmap and returns it
at once, but its free raises the mmap threshold to that size, so later ones come from the
thread's heap, where a freed block is rarely handed back while smaller objects sit above it:
at 1,000 mailboxes that free heap was 9.8 KiB of the 26 KiB RSS per mailbox, and 0.5 KiB with
the threshold held at glibc's default of 128 KiB. Setting the threshold also ends its growth.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform

_LOGGER = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
MMAP_THRESHOLD = 128 * 1024  # glibc's starting value


def keep_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold at 128 KiB, unless the environment sets one; False where
    there is no glibc or it refused."""
    if platform.libc_ver()[0] != "glibc":
        return False
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "mmap_threshold" in tunables:
        return False  # the operator's choice
    try:
        libc = ctypes.CDLL(None)
        done = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError) as err:
        _LOGGER.debug("mallopt unavailable: %s", err)
        return False
    return done
