"""Threads over independent pieces of work (cover elements, query blocks) with single-threaded BLAS.

On a busy machine multi-threaded BLAS calls spend most of their time waiting for each other; running our own
threads over independent pieces with single-threaded BLAS keeps every core busy.

Example:
    >>> run_parallel(lambda k: k * k, [3, 1, 2], n_threads=2, size=lambda k: k)
    [9, 1, 4]
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_blas_lock = threading.Lock()
_blas_depth = 0
_blas_limiter: Any = None
_controller: Any = None
_controller_has_scipy = False


def _blas_controller() -> Any:
    # Finding the loaded BLAS libraries scans the process's memory map (about 2 ms): done once, and again after
    # scipy.linalg is first imported. scipy ships its own OpenBLAS (scipy.libs), separate from numpy's
    # (numpy.libs), loaded only with scipy.linalg: a controller made before that import would leave scipy's
    # products multi-threaded inside our threads (measured: a 94 x 512 triangular solve took 7 ms instead of
    # 1 ms on a busy 2-core machine).
    global _controller, _controller_has_scipy
    has_scipy = "scipy.linalg" in sys.modules
    if _controller is None or (has_scipy and not _controller_has_scipy):
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
        _controller_has_scipy = has_scipy
    return _controller


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """numpy/scipy's BLAS limited to one thread per call while any thread is inside this block.

    On a busy machine multi-threaded BLAS calls spend most of their time waiting for each other; running our own
    threads over independent pieces (cover elements, query blocks) with single-threaded BLAS keeps every core busy.
    Reference-counted across threads, so concurrent and nested uses restore the original setting exactly once, when
    the last one leaves (threadpoolctl on its own would restore out of order). torch's thread pools are untouched.
    A BLAS library loaded while the limit holds (scipy's, at the first ``import scipy.linalg``) is not limited:
    import scipy before entering when the block uses it.
    """
    global _blas_depth, _blas_limiter
    with _blas_lock:
        if _blas_depth == 0:
            _blas_limiter = _blas_controller().limit(limits=1, user_api="blas")
        _blas_depth += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_depth -= 1
            if _blas_depth == 0:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None


def available_cores() -> int:
    """CPU cores this process may run on."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def n_threads(n_jobs: int | None) -> int:
    """Threads for ``n_jobs`` (None: every available core)."""
    return available_cores() if n_jobs is None else int(n_jobs)


def run_parallel(
    run: Callable[[int], T],
    todo: Sequence[int],
    n_threads: int,
    *,
    size: Callable[[int], int],
    done: Callable[[int], None] | None = None,
) -> list[T]:
    """``run(k)`` for every ``k`` in ``todo`` (results in that order), on ``n_threads`` threads with
    single-threaded BLAS; the largest pieces by ``size(k)`` start first, so no thread is left with one big piece
    at the end. ``done(k)`` is called in the calling thread as each piece finishes (for progress)."""
    by_size = sorted(todo, key=lambda k: -size(k))
    out: dict[int, T] = {}
    with single_threaded_blas():
        if n_threads > 1 and len(todo) > 1:
            # Imported here: the single-threaded graph process never needs it (with logging, 8 ms of its start-up).
            from concurrent.futures import ThreadPoolExecutor, as_completed

            with ThreadPoolExecutor(max_workers=n_threads) as pool:
                futures = {pool.submit(run, k): k for k in by_size}
                for future in as_completed(futures):
                    out[futures[future]] = future.result()
                    if done is not None:
                        done(futures[future])
        else:
            for k in by_size:
                out[k] = run(k)
                if done is not None:
                    done(k)
    return [out[k] for k in todo]
