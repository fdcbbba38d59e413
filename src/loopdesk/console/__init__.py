"""The web console (web/, React + TypeScript), served by loopdesk itself: its production build is committed in
`console/static/`, so running the service needs no Node. `/` and the console's own client routes answer with its
`index.html` (the browser's router takes over); `/assets/*` are its hashed, immutable files. Everything the console
shows comes from the authenticated API; these files are public like any login page's."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse, Response

STATIC = Path(__file__).parent / "static"

# The console's client-side routes (first path segment): a reload or a shared link on one of them gets the app.
# Kept explicit (no catch-all) so that an unknown path stays a JSON 404 and graph-defined routes keep theirs.
CLIENT_ROUTES = ("login", "chat", "approvals", "feedback", "board", "conversations", "analytics", "admin")

# What the page may load: only itself (scripts, styles, fonts, its API and WebSocket), inline styles for React's.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",  # the page names its hashed assets: always ask whether it changed
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
_ASSET_HEADERS = {"Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"}

router = APIRouter(include_in_schema=False)


def built() -> bool:
    return (STATIC / "index.html").is_file()


def _page() -> Response:
    if not built():  # a source checkout whose console was never built: the API docs are still useful
        return RedirectResponse("/docs", status_code=307)
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)


@router.get("/")
async def home() -> Response:
    """The console (its login page when nobody is signed in)."""
    return _page()


@router.get("/assets/{name:path}")
async def asset(name: str) -> Response:
    root = (STATIC / "assets").resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise HTTPException(status_code=404)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers=_ASSET_HEADERS)


def _client_route(segment: str) -> None:
    async def page() -> Response:
        return _page()

    router.add_api_route(f"/{segment}", page, methods=["GET"], name=f"console_{segment}")
    router.add_api_route(f"/{segment}/{{rest:path}}", page, methods=["GET"], name=f"console_{segment}_deep")


for _segment in CLIENT_ROUTES:
    _client_route(_segment)
