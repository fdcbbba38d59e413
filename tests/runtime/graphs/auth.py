"""A langgraph.json custom auth for the tests: bearer tokens "user-<name>", threads owned by metadata."""

from langgraph_sdk import Auth

auth = Auth()


@auth.authenticate
async def authenticate(authorization: str | None) -> Auth.types.MinimalUserDict:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.startswith("user-"):
        raise Auth.exceptions.HTTPException(status_code=401, detail="unknown token")
    name = token.removeprefix("user-")
    return {"identity": name, "display_name": name.title(), "permissions": ["write"] if name != "reader" else []}


@auth.on.threads.create
async def stamp_owner(ctx: Auth.types.AuthContext, value: dict) -> None:
    if "write" not in ctx.permissions:
        raise Auth.exceptions.HTTPException(status_code=403, detail="read-only user")
    value.setdefault("metadata", {})["owner"] = ctx.user.identity


@auth.on.threads
async def only_own_threads(ctx: Auth.types.AuthContext, value: dict) -> dict:
    return {"owner": ctx.user.identity}


@auth.on.store
async def store_under_identity(ctx: Auth.types.AuthContext, value: dict) -> None:
    value["namespace"] = ("by-identity", ctx.user.identity, *value["namespace"])


@auth.on.assistants.create
async def stamp_assistant(ctx: Auth.types.AuthContext, value: dict) -> None:
    value.setdefault("metadata", {})["owner"] = ctx.user.identity


@auth.on.assistants.delete
async def assistants_are_kept(ctx: Auth.types.AuthContext, value: dict) -> bool:
    return False


@auth.on.crons
async def own_crons(ctx: Auth.types.AuthContext, value: dict) -> dict:
    if "metadata" in value and value["metadata"] is not None and "cron_id" not in value:
        value["metadata"]["owner"] = ctx.user.identity  # create stamps; search / read filter below
    return {"owner": ctx.user.identity}
