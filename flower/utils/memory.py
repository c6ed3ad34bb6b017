"""Giving freed heap memory back to the operating system.

A burst of events leaves the C heap full of freed blocks (message buffers, decoded events) between the
long-lived task records; glibc keeps them, so the resident size stays at the burst's high-water mark.
``malloc_trim`` returns what is free. A no-op where the C library has no such call (musl, macOS).

Called from the IOLoop thread, when the event backlog has been worked off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """Return free heap memory to the OS; True if the C library could do it."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
