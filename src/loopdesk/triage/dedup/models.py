"""Tables of this triage component (filled in with the component; imported by core/models.py)."""

from __future__ import annotations

from loopdesk.core.db import Base

__all__ = ["Base"]
