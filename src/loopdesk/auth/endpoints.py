from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from loopdesk.auth.attempts import ClientAddress, PasswordAttemptsDep
from loopdesk.auth.deps import CurrentPrincipal, CurrentUser
from loopdesk.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead, LoginRequest, Token
from loopdesk.auth.service import AuthService
from loopdesk.core.db import SessionDep
from loopdesk.core.deps import RateLimiterDep, SettingsDep
from loopdesk.core.errors import error_body
from loopdesk.core.ratelimit import rate
from loopdesk.users.schemas import UserCreate, UserRead
from loopdesk.users.service import UserService

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
api_keys_router = APIRouter(prefix="/api/v1/api-keys", tags=["api keys"])


def _error(status_code: int, code: str, message: str) -> dict:
    return {"description": message, "content": {"application/json": {"example": error_body(code, message)}}}


register_responses: dict[int | str, dict] = {
    409: _error(409, "email_taken", "An account with this email (or username: `username_taken`) already exists"),
    429: _error(429, "rate_limited", "Too many registrations from this address"),
}
login_responses: dict[int | str, dict] = {
    401: _error(401, "invalid_credentials", "Incorrect email or password"),
    429: _error(429, "rate_limited", "Too many requests"),
}


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=UserRead, responses=register_responses)
async def register(
    data: UserCreate, session: SessionDep, settings: SettingsDep, limiter: RateLimiterDep, client_ip: ClientAddress
) -> UserRead:
    """Create a customer account (an optional `username` logs in like the e-mail). Staff and admin roles
    are granted by an admin; LOOPDESK_REGISTER_LIMIT_PER_IP bounds registrations per address.
    Also at `POST /api/v1/users`."""
    await limiter.check(rate(settings.auth.register_limit_per_ip), "register-ip", client_ip)
    return UserRead.model_validate(await UserService(session).register(data))


@router.post("/login", response_model=Token, responses=login_responses)
async def login(
    data: LoginRequest, response: Response, session: SessionDep, settings: SettingsDep, attempts: PasswordAttemptsDep
) -> Token:
    """Exchange e-mail (or username) and password for a bearer token; also sets the console's httpOnly
    cookie. Also at `POST /api/v1/users/login`."""
    token, claims = await AuthService(session, settings).login(data, attempts=attempts)
    max_age = int((claims.expires_at - claims.issued_at).total_seconds())
    response.set_cookie(
        settings.auth.cookie_name,
        token,
        max_age=max_age,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        path="/",
    )
    return Token(access_token=token, expires_in=max_age)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(principal: CurrentPrincipal, session: SessionDep, settings: SettingsDep) -> Response:
    """End this token (it stops working at once) and clear the cookie. API keys stay valid."""
    await AuthService(session, settings).logout(principal)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(settings.auth.cookie_name, path="/", httponly=True, samesite="lax")
    return response


@api_keys_router.post("", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_api_key(
    data: ApiKeyCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> ApiKeyCreated:
    """Create a key that acts as you. The secret (`key`) is shown in this response only."""
    key, secret = await AuthService(session, settings).create_api_key(user, data)
    return ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), key=secret)


@api_keys_router.get("", response_model=list[ApiKeyRead])
async def list_api_keys(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> list[ApiKeyRead]:
    """Your keys, newest first, revoked ones included (without their secrets)."""
    return [ApiKeyRead.model_validate(k) for k in await AuthService(session, settings).list_api_keys(user)]


@api_keys_router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(key_id: uuid.UUID, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> Response:
    """Revoke one of your keys; it stops working at once."""
    await AuthService(session, settings).revoke_api_key(user, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
