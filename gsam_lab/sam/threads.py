"""Run parts of a prompt batch side by side on CPU threads, one torch thread each.

Why: SAM's mask decoder on a CPU is a chain of mid-sized operations (a few MB each for
``tiny-synth``). Torch splits every one of them over its intra-op threads, which on two cores
gains only ~1.4x over one thread (each split and join waits for the slower core). Giving each
core its own part of the prompts, run with one intra-op thread, keeps both busy for the whole
part: on the 2-core sandbox ``PromptPredictor.predict`` of 100 boxes ran 1.05-1.4x faster than
with torch's 2 intra-op threads, depending on the hour (``benchmarks/bench_prompts.py`` prints both).

Torch operations release the GIL, so plain Python threads run in parallel. ``torch.set_num_threads``
is per thread for OpenMP (each worker sets 1 for itself) but also sets the default that new threads
start with; :func:`run_split` restores the caller's value when the parts are done.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, TypeVar, Union

import torch

__all__ = ["resolve_workers", "split_evenly", "run_split"]

T = TypeVar("T")

#: fewest prompts per worker thread: with fewer prompts than this per worker, one thread does it all
MIN_PER_WORKER = 2


def resolve_workers(workers: Union[int, str], device: torch.device, n: int) -> int:
    """How many threads decode ``n`` prompts: ``"auto"`` is ``torch.get_num_threads()`` on a CPU and 1
    on CUDA (one stream does it), never more than ``n // MIN_PER_WORKER``; an int is taken as given
    (capped the same way)."""
    if workers == "auto":
        want = torch.get_num_threads() if torch.device(device).type == "cpu" else 1
    elif isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be 'auto' or an int >= 1, got {workers!r}")
    else:
        want = workers
    return max(1, min(want, n // MIN_PER_WORKER))


def split_evenly(n: int, parts: int) -> List[slice]:
    """``parts`` contiguous slices covering ``range(n)`` whose lengths differ by at most one."""
    if n < 0 or parts < 1:
        raise ValueError(f"need n >= 0 and parts >= 1, got n={n}, parts={parts}")
    q, r = divmod(n, parts)
    out, start = [], 0
    for i in range(parts):
        stop = start + q + (1 if i < r else 0)
        out.append(slice(start, stop))
        start = stop
    return [s for s in out if s.stop > s.start]


def _autocast_on() -> bool:
    return any(torch.is_autocast_enabled(d) for d in ("cpu", "cuda"))


def run_split(fn: Callable[[slice], T], parts: List[slice]) -> List[T]:
    """``[fn(p) for p in parts]``, each part on its own thread with one torch intra-op thread.

    A single part, or any part under autocast (a per-thread state), runs in the calling thread. Results
    come back in the order of ``parts``; an exception in any part is raised here. The caller's
    ``torch.get_num_threads()`` is restored.
    """
    if len(parts) <= 1 or _autocast_on():
        return [fn(p) for p in parts]
    outer = torch.get_num_threads()
    grad = torch.is_grad_enabled()          # grad mode is per thread: the workers take the caller's

    def work(p: slice) -> T:
        with torch.set_grad_enabled(grad):
            return fn(p)

    try:
        return list(_pool(len(parts)).map(work, parts))
    finally:
        torch.set_num_threads(outer)


_POOL: "ThreadPoolExecutor | None" = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist: drop the pool so that a new one is made."""
    global _POOL, _POOL_SIZE, _POOL_LOCK
    _POOL, _POOL_SIZE, _POOL_LOCK = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _one_torch_thread() -> None:
    torch.set_num_threads(1)


def _pool(n: int) -> ThreadPoolExecutor:
    """A process-wide pool of worker threads (kept: a thread's first torch operation costs set-up),
    each with one torch intra-op thread. When more workers are asked for, a larger pool replaces it
    (the old one is not shut down, so a caller still holding it finishes; its idle threads end with it)."""
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE < n:
            _POOL = ThreadPoolExecutor(max_workers=n, thread_name_prefix="gsam_lab-decode",
                                       initializer=_one_torch_thread)
            _POOL_SIZE = n
        return _POOL
