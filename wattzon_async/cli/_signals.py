"""Ctrl-C and SIGTERM during a batch: the first stops it gently, the second at once.

A batch killed by its first signal would lose what it knows: which jobs exist, which
finished. So the first SIGINT or SIGTERM (Ctrl-C, ``kill``, Kubernetes, systemd) only
asks the batch to stop (``BatchRun.stop()``): nothing more is sent, uploads in flight
finish, waits end, and every file still gets its row, pending ones with their job ids.
A second signal cancels the run at once (``KeyboardInterrupt``); the results file is
still written with what is known, and the journal has the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from types import TracebackType

from ..jobs._batch import BatchRun

__all__ = ["Interrupts"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """Installs the two-step handling of SIGINT and SIGTERM around a batch.

    Args:
        run: The batch to stop on the first signal.
    """

    def __init__(self, run: BatchRun) -> None:
        self.run = run
        #: The first signal received (its name), or None.
        self.received: str | None = None
        self.forced = False
        self._task: asyncio.Task[object] | None = None
        self._installed: list[signal.Signals] = []

    def __enter__(self) -> Interrupts:
        loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        for sig in _SIGNALS:
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # Windows, not main thread
                continue
            self._installed.append(sig)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            with contextlib.suppress(RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        self._installed.clear()
        if self.forced and isinstance(exc, asyncio.CancelledError):
            raise KeyboardInterrupt from None

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.received is None:
            self.received = sig.name
            self.run.stop()
            print(
                f"\nwattzon: {sig.name}: stopping; no new uploads, uploads in flight finish, "
                "then every file gets its row (press Ctrl-C again to quit at once)",
                file=sys.stderr,
                flush=True,
            )
        elif not self.forced and self._task is not None:
            self.forced = True
            self._task.cancel()
