"""The OpenAPI document the console's typed client is generated from (web/openapi.json → web/src/api/schema.d.ts):
loopdesk's own API, whatever routes a langgraph.json adds.

    python -m loopdesk.console.apidoc web/openapi.json"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def document() -> dict[str, Any]:
    from loopdesk.app import create_app
    from loopdesk.core.settings import Settings

    settings = Settings()
    settings.runtime.graphs_config = None  # loopdesk's routes only: no langgraph.json `http.app` of one's own
    return create_app(settings).openapi()


def render(spec: dict[str, Any]) -> str:
    """An OpenAPI document as the committed file holds it (stable key order, so diffs show what changed)."""
    return json.dumps(spec, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def text() -> str:
    return render(document())


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "web/openapi.json")
    target.write_text(text(), encoding="utf-8")
    print(f"wrote {target}")
