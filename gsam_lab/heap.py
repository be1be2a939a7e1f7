"""Keep freed CPU memory in the process, for loops that allocate the same large tensors again and again.

PyTorch's CPU allocator takes every tensor's memory from the C library's ``malloc`` and gives it back on
free. With glibc's defaults a buffer of more than 128 KB is either its own ``mmap`` (returned to the
system when freed) or carved from the top of the heap, which is trimmed back to the system once more
than 128 KB (a threshold that glibc raises as it sees large frees, up to 32 MB / 64 MB) is free there.
The next call then gets fresh pages, and the kernel zero-fills each one on first touch. For SAM's
decoder on many prompts (``sam.PromptPredictor``: tens of MB per activation, dozens of activations per
call) that page-fault traffic cost as much as a third of the call on a small VM when it decoded on one
thread (``benchmarks/bench_prompts.py --heap both``); with its worker threads (each allocating from its
own glibc arena) the retained heap no longer made it faster there.

:func:`retain_cpu_heap` sets three ``mallopt`` parameters for the whole process: serve buffers up to
``mmap_threshold_mb`` from the heap, never trim the heap's free top, and grow it ``top_pad_mb`` at a
time. The process then keeps its peak heap size (freed memory is reused, not returned to the system).
Nothing else changes: same results, same tensors. It is opt-in because it is process-wide; it needs
glibc (Linux) and returns False elsewhere. Environment variables do the same from outside a process:
``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` and ``MALLOC_TOP_PAD_``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from typing import Optional

__all__ = ["retain_cpu_heap", "heap_bytes"]

# mallopt parameter numbers from glibc's <malloc.h>
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_MMAP_THRESHOLD_MAX_MB = 32          # glibc ignores larger values on 64-bit builds (HEAP_MAX_SIZE / 2)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _libc() -> Optional[ctypes.CDLL]:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    return lib if hasattr(lib, "mallopt") and hasattr(lib, "gnu_get_libc_version") else None


def retain_cpu_heap(top_pad_mb: int = 256, mmap_threshold_mb: int = _MMAP_THRESHOLD_MAX_MB) -> bool:
    """Keep freed heap memory in the process (see the module docstring). Returns True if applied (glibc).

    Args:
        top_pad_mb: how much the heap grows at a time beyond a request (and keeps), in MB (> 0).
        mmap_threshold_mb: buffers up to this size come from the heap instead of their own ``mmap``;
            1-32 MB (glibc's ceiling on 64-bit systems).

    Raises:
        ValueError: a size out of range.
    """
    if not 1 <= int(mmap_threshold_mb) <= _MMAP_THRESHOLD_MAX_MB:
        raise ValueError(f"mmap_threshold_mb must be 1-{_MMAP_THRESHOLD_MAX_MB} (glibc's ceiling), got {mmap_threshold_mb}")
    if int(top_pad_mb) <= 0:
        raise ValueError(f"top_pad_mb must be a positive number of MB, got {top_pad_mb}")
    lib = _libc()
    if lib is None:
        return False
    mb = 1 << 20
    ok = lib.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold_mb) * mb)
    ok &= lib.mallopt(_M_TRIM_THRESHOLD, 2 ** 31 - 1)     # an int: ~2 GB free at the top before trimming
    ok &= lib.mallopt(_M_TOP_PAD, int(top_pad_mb) * mb)
    return bool(ok)


def heap_bytes() -> Optional[int]:
    """Bytes the main heap holds from the system now (glibc's ``mallinfo2().arena``); None without glibc 2.33+."""
    lib = _libc()
    if lib is None or not hasattr(lib, "mallinfo2"):
        return None
    lib.mallinfo2.restype = _MallInfo2
    return int(lib.mallinfo2().arena)
