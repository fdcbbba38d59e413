"""What the console's types are generated from, as the committed files hold it:

- the OpenAPI document (web/openapi.json → web/src/api/schema.d.ts by openapi-typescript): loopdesk's own API,
  whatever routes a langgraph.json adds;
- the WebSocket protocol's JSON Schema, as /api/v1/realtime/schema serves it (web/realtime.schema.json), and the
  frame types generated from it (web/src/chat/frames.d.ts, by json-schema-to-typescript from web/node_modules).

    python -m loopdesk.console.apidoc web/openapi.json
    python -m loopdesk.console.apidoc --realtime web/realtime.schema.json --frames web/src/chat/frames.d.ts"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

WEB = Path(__file__).resolve().parents[3] / "web"
FRAMES_BANNER = (
    "/* Generated from web/realtime.schema.json (the server's /api/v1/realtime/schema) by json-schema-to-typescript:"
    " do not edit. `make web-api` writes it again. */"
)
# Every property of the schema has a `title` (Pydantic's); json-schema-to-typescript would make each one a type
# of its own (`Id1`, `Type3`, ...): only the frames' own titles ($defs) name types. A `default` shapes no type, but
# the generator reads `{"default": null}` (any value) as an object.
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "$defs", "patternProperties")
_SCHEMA_VALUES = ("items", "additionalProperties", "not", "contains")


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


def realtime_text() -> str:
    """The WebSocket protocol's JSON Schema, byte for byte what the server serves."""
    from loopdesk.realtime.protocol import schema_text

    return schema_text()


def typing_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema the frame types are generated from: the same, without defaults and the titles of what is not a
    frame."""

    def walk(node: Any, *, named: bool) -> Any:
        if not isinstance(node, dict):
            return node
        out = {key: value for key, value in node.items() if key != "default" and (named or key != "title")}
        for key in _SCHEMA_LISTS:
            if isinstance(node.get(key), list):
                out[key] = [walk(item, named=False) for item in node[key]]
        for key in _SCHEMA_MAPS:
            if isinstance(node.get(key), dict):
                out[key] = {name: walk(item, named=key == "$defs") for name, item in node[key].items()}
        for key in _SCHEMA_VALUES:
            if isinstance(node.get(key), dict):
                out[key] = walk(node[key], named=False)
        return out

    return walk(schema, named=True)


class GeneratorMissing(RuntimeError):
    """web/node_modules lacks json-schema-to-typescript (`make web` installs it)."""


def frame_types(schema: str, web: Path = WEB) -> str:
    """web/src/chat/frames.d.ts for a protocol schema, by the pinned json-schema-to-typescript of web/node_modules."""
    node = shutil.which("node")
    cli = web / "node_modules" / "json-schema-to-typescript" / "dist" / "src" / "cli.js"
    if node is None or not cli.is_file():
        raise GeneratorMissing(f"node and {cli.relative_to(web.parent)} are needed: run `make web` first")
    prepared = json.dumps(typing_schema(json.loads(schema)))
    # --maxItems=-1: a list of at most 20 is `string[]`, not 21 tuple types.
    options = ["--unknownAny", "--no-additionalProperties", "--maxItems=-1", "--bannerComment", FRAMES_BANNER]
    done = subprocess.run(  # noqa: S603 - the pinned generator of web/node_modules, arguments of our own
        [node, str(cli), *options],
        input=prepared,
        capture_output=True,
        text=True,
        cwd=web,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"json-schema-to-typescript failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def _write(target: Path, content: str) -> None:
    target.write_text(content, encoding="utf-8")
    print(f"wrote {target}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loopdesk.console.apidoc",
        description="Write the documents the console's types are generated from (run by `make web-api`).",
    )
    parser.add_argument("openapi", nargs="?", type=Path, help="where to write the OpenAPI document (web/openapi.json)")
    parser.add_argument("--realtime", type=Path, help="where to write the WebSocket protocol's JSON Schema")
    parser.add_argument("--frames", type=Path, help="where to write the frame types generated from that schema")
    args = parser.parse_args(argv)
    if args.openapi is None and args.realtime is None and args.frames is None:
        args.openapi = Path("web/openapi.json")
    if args.openapi is not None:
        _write(args.openapi, text())
    schema = realtime_text()
    if args.realtime is not None:
        _write(args.realtime, schema)
    if args.frames is not None:
        try:
            _write(args.frames, frame_types(schema))
        except RuntimeError as exc:  # GeneratorMissing, or the generator's own failure
            parser.exit(1, f"error: {exc}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
