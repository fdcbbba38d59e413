"""The baseline for idle WebSocket connections: a bare Starlette endpoint that accepts and waits,
under the same uvicorn WebSocket settings as loopdesk (no auth, no state per connection)."""

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


async def endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass


app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
