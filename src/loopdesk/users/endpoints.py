from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from loopdesk.auth.attempts import PasswordAttemptsDep
from loopdesk.auth.deps import AdminUser, CurrentUser
from loopdesk.auth.endpoints import login, login_responses, register, register_responses
from loopdesk.auth.schemas import Token
from loopdesk.core.db import SessionDep
from loopdesk.core.schemas import MAX_OFFSET, Page, SearchText
from loopdesk.users.models import Role
from loopdesk.users.schemas import UserAdminCreate, UserAdminUpdate, UserRead, UserUpdate
from loopdesk.users.service import UserService

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.get("/me", response_model=UserRead)
@router.get("/profile", response_model=UserRead, summary="Read Me (the seeds' route)")
async def read_me(user: CurrentUser) -> UserRead:
    """Your account. `/profile` is the same route under the seeds' name."""
    return UserRead.model_validate(user)


@router.patch("/me", response_model=UserRead)
@router.put("/profile", response_model=UserRead, summary="Update Me (the seeds' route)")
async def update_me(
    data: UserUpdate, user: CurrentUser, session: SessionDep, attempts: PasswordAttemptsDep
) -> UserRead:
    """Change your display name, username, e-mail or password (the last two need `current_password`);
    fields left out stay as they are. A new password ends every token issued before it.
    Wrong `current_password`s are limited like logins (429 with `Retry-After`).
    `PUT /profile` is the same route under the seeds' name."""
    return UserRead.model_validate(await UserService(session).update_me(user, data, attempts=attempts))


# The seeds' registration and login routes: the very same handlers as /api/v1/auth/register and /login.
router.add_api_route(
    "",
    register,
    methods=["POST"],
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    summary="Register (the seeds' route)",
    responses=register_responses,
)
router.add_api_route(
    "/login",
    login,
    methods=["POST"],
    response_model=Token,
    summary="Login (the seeds' route)",
    responses=login_responses,
)


@router.post(
    "/accounts",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses={
        403: {"description": "Admin role required"},
        409: {"description": "`email_taken` or `username_taken`"},
    },
)
async def admin_create_user(data: UserAdminCreate, admin: AdminUser, session: SessionDep) -> UserRead:
    """Admin: open an account with its role (`staff`, `admin` or `customer`) in one call. Public registration
    (`POST /api/v1/users`, `/api/v1/auth/register`) stays as it is: customers only, limited per address."""
    return UserRead.model_validate(await UserService(session).admin_create(admin, data))


@router.get("", response_model=Page[UserRead])
async def list_users(
    admin: AdminUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    role: Role | None = None,
    q: Annotated[SearchText | None, Query(description="matches e-mail or display name")] = None,
) -> Page[UserRead]:
    users, total = await UserService(session).list(admin, limit=limit, offset=offset, role=role, query=q)
    return Page[UserRead](items=[UserRead.model_validate(u) for u in users], total=total, limit=limit, offset=offset)


@router.get("/{user_id}", response_model=UserRead)
async def read_user(user_id: uuid.UUID, caller: CurrentUser, session: SessionDep) -> UserRead:
    """Yourself, or anyone if you are staff or admin; other users' ids answer 404."""
    return UserRead.model_validate(await UserService(session).get(caller, user_id))


@router.patch("/{user_id}", response_model=UserRead)
async def admin_update_user(
    user_id: uuid.UUID, data: UserAdminUpdate, admin: AdminUser, session: SessionDep
) -> UserRead:
    """Admin: change a user's role, display name or active flag."""
    return UserRead.model_validate(await UserService(session).admin_update(admin, user_id, data))
