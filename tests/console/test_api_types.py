"""The console's typed API client cannot drift from the API: its types are generated from web/openapi.json, which
must be what the server documents now (regenerate with `make web-api`)."""

from __future__ import annotations

import json
from pathlib import Path

from loopdesk.console.apidoc import document

WEB = Path(__file__).resolve().parents[2] / "web"


def test_the_consoles_api_document_is_the_servers():
    committed = json.loads((WEB / "openapi.json").read_text(encoding="utf-8"))
    current = document()
    assert sorted(committed["paths"]) == sorted(current["paths"]), "run `make web-api` and rebuild the console"
    assert committed == json.loads(json.dumps(current)), "run `make web-api` and rebuild the console"


def test_the_generated_types_name_every_documented_path():
    types = (WEB / "src" / "api" / "schema.d.ts").read_text(encoding="utf-8")
    missing = [path for path in document()["paths"] if f'"{path}"' not in types]
    assert not missing, f"web/src/api/schema.d.ts is older than the API ({missing[:5]}): run `make web-api`"
