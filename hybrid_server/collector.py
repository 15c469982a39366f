"""The cyclic garbage collector around start-up.

A start (Django's set-up, the system checks, the hook, grpc) allocates ~65k long-lived objects;
the automatic full collection that this triggers on the way cost 20-40 ms of the start on the
benchmark machine, and found a few dozen objects to free. So from `run()` on (from the import of
the `django_socio_grpc` app when `manage.py grpcrunaioserver|grpcrunserver` runs: Django's set-up
is start-up too, and it is where that collection fell), neither the oldest nor the middle
generation is collected automatically (the youngest still is: start-up garbage is still freed;
the middle one's collections, each over thousands of objects that all survive, cost ~4 M
instructions of a start to the first answer); once serving, `settle()` freezes every tracked
object (it lives as long as the process: collections triggered by per-call garbage then skip it)
and restores the thresholds. It does not collect first: that collection walked the ~23k objects
the young generations then hold, ~10 ms of wall time on the benchmark machine right before the
first answer, to free ~70 objects (~13 KiB: cells, functions, a few classes), which are frozen
instead. Freezing without collecting is what the `gc.freeze()` docs advise before a fork, too.
Standard library only.
"""
from __future__ import annotations

import gc

_saved: tuple[int, ...] | None = None


def defer_full_collections() -> None:
    """No automatic collection of the two older generations until `settle()` or `resume()`."""
    global _saved
    if _saved is None:
        _saved = gc.get_threshold()
        if _saved[0]:  # threshold 0: automatic collection is off already
            gc.set_threshold(_saved[0], 1_000_000, 1_000_000)


def resume() -> None:
    """The thresholds as they were (a run that ends before serving, a supervisor)."""
    global _saved
    if _saved is not None:
        gc.set_threshold(*_saved)
        _saved = None


def settle() -> None:
    """Serving: freeze what start-up made (its few garbage objects included), resume."""
    gc.freeze()
    resume()
