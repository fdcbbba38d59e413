"""The console's WebSocket frame types cannot drift from the protocol: web/realtime.schema.json must be what the
server serves now, and web/src/chat/frames.d.ts what json-schema-to-typescript makes of it (`make web-api` writes
both)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from loopdesk.console.apidoc import frame_types, realtime_text, typing_schema
from loopdesk.realtime.gateway import SCHEMA_PATH

WEB = Path(__file__).resolve().parents[2] / "web"
FRAMES = WEB / "src" / "chat" / "frames.d.ts"


def test_the_consoles_realtime_schema_is_the_one_the_server_serves():
    committed = (WEB / "realtime.schema.json").read_text(encoding="utf-8")
    assert committed == SCHEMA_PATH.read_text(encoding="utf-8"), "run `make web-api` and rebuild the console"
    assert committed == realtime_text(), "run `make web-api` and rebuild the console"


def test_the_frame_types_declare_every_frame_of_the_schema_with_its_type():
    schema = json.loads((WEB / "realtime.schema.json").read_text(encoding="utf-8"))
    types = FRAMES.read_text(encoding="utf-8")
    for union in ("ClientFrame", "ServerFrame"):
        for ref in schema["$defs"][union]["oneOf"]:
            name = ref["$ref"].rsplit("/", 1)[1]
            declared = re.search(rf"export interface {name} \{{(.*?)\n\}}", types, re.S)
            assert declared, f"{name} is missing from web/src/chat/frames.d.ts: run `make web-api`"
            literal = schema["$defs"][name]["properties"]["type"]
            values = literal.get("enum") or [literal["const"]]
            assert f"type: {' | '.join(json.dumps(v) for v in values)};" in declared.group(1), name


def test_only_the_titles_of_what_is_not_a_frame_and_defaults_are_left_out_for_typing():
    schema = json.loads(realtime_text())
    prepared = typing_schema(schema)
    message = prepared["$defs"]["MessageIn"]
    assert message["title"] == "MessageIn" and "title" not in message["properties"]["content"]
    feedback = prepared["$defs"]["SubmitFeedbackIn"]["properties"]
    assert "title" in feedback and feedback["title"]["maxLength"] == 500  # a property named `title` stays
    assert "default" not in prepared["$defs"]["ErrorOut"]["properties"]["detail"]
    assert prepared["$defs"]["ServerFrame"]["discriminator"] == schema["$defs"]["ServerFrame"]["discriminator"]
    assert schema["$defs"]["MessageIn"]["properties"]["content"]["title"] == "Content"  # the input is not changed


@pytest.mark.web  # runs the generator in web/node_modules, which `make test-web` installs
def test_the_frame_types_are_what_the_generator_makes_of_the_schema():
    schema = (WEB / "realtime.schema.json").read_text(encoding="utf-8")
    assert FRAMES.read_text(encoding="utf-8") == frame_types(schema, WEB), "run `make web-api`"
