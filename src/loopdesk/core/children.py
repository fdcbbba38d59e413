"""Processes `loopdesk serve` starts (its worker, the demo backends) never outlive it, however it ended
(SIGKILL included): each watches its parent and acts once it is gone."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable


def when_parent_gone(parent: int, act: Callable[[], None]) -> None:
    """Call `act` (from a daemon thread, checked every second) once `parent` is no longer our parent."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        act()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
