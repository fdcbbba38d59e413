"""User accounts: registration, profiles and the admin's view. Services flush; the caller commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.auth.attempts import PasswordAttempts, account_names
from loopdesk.core.errors import Conflict, InvalidCredentials, NotFound
from loopdesk.core.security import ahash_password, averify_password, now_ms
from loopdesk.users.models import Role, User
from loopdesk.users.repository import UserRepository
from loopdesk.users.schemas import UserAdminCreate, UserAdminUpdate, UserCreate, UserUpdate

log = structlog.get_logger("loopdesk.users")


class EmailTaken(Conflict):
    code, message = "email_taken", "An account with this email already exists"


class UsernameTaken(Conflict):
    code, message = "username_taken", "An account with this username already exists"


class UserService:
    def __init__(self, session: AsyncSession):
        self.session = session
        self.users = UserRepository(session)

    async def register(self, data: UserCreate, *, role: Role = Role.customer) -> User:
        if await self.users.email_taken(data.email):
            raise EmailTaken()
        if data.username is not None and await self.users.username_taken(data.username):
            raise UsernameTaken()
        password_hash = await ahash_password(data.password)
        user = User(
            email=data.email,
            username=data.username,
            display_name=data.display_name or data.email,
            password_hash=password_hash,
            role=role,
        )
        try:
            async with self.session.begin_nested():
                await self.users.add(user)
        except IntegrityError:  # a concurrent registration of the same address or username won
            raise (UsernameTaken() if await self.users.username_taken(data.username or "") else EmailTaken()) from None
        log.info("users.registered", user_id=str(user.id), role=role.value)
        return user

    async def admin_create(self, admin: User, data: UserAdminCreate) -> User:
        """An admin opens an account with its role: one step, no registration limit (admins are few and known)."""
        user = await self.register(data, role=data.role)
        log.info("users.created_by_admin", user_id=str(user.id), by=str(admin.id), role=data.role.value)
        return user

    async def get(self, caller: User, user_id: uuid.UUID) -> User:
        user = await self.users.get_readable(caller, user_id)
        if user is None:
            raise NotFound("User not found")
        return user

    async def list(
        self, caller: User, *, limit: int, offset: int, role: Role | None, query: str | None
    ) -> tuple[Sequence[User], int]:
        return await self.users.list(caller, limit=limit, offset=offset, role=role, query=query)

    async def update_me(self, user: User, data: UserUpdate, *, attempts: PasswordAttempts) -> User:
        if data.current_password is not None:
            # As guessable as a login: the same limits, counted with the account's logins.
            await attempts.check_address()
            await attempts.slow_down(user.email)
            await attempts.check_account(str(user.id))
            if not await averify_password(user.password_hash, data.current_password):
                await attempts.failed(str(user.id), account_names(user))
                raise InvalidCredentials("Current password is incorrect")
        if data.display_name is not None:
            user.display_name = data.display_name
        if data.username is not None and data.username != user.username:
            if await self.users.username_taken(data.username, except_id=user.id):
                raise UsernameTaken()
            user.username = data.username
        if data.email is not None and data.email != user.email:
            if await self.users.email_taken(data.email, except_id=user.id):
                raise EmailTaken()
            user.email = data.email
        if data.password is not None:
            user.password_hash = await ahash_password(data.password)
            # Every token issued so far dies with the old password.
            user.tokens_valid_after = now_ms()
        try:
            async with self.session.begin_nested():
                return await self.users.save(user)
        except IntegrityError:  # a concurrent change took the address or the username
            raise (UsernameTaken() if data.username is not None else EmailTaken()) from None

    async def admin_update(self, caller: User, user_id: uuid.UUID, data: UserAdminUpdate) -> User:
        user = await self.get(caller, user_id)
        changes = data.model_dump(exclude_unset=True, exclude_none=True)
        loses_admin = user.role == Role.admin and (
            (data.role is not None and data.role != Role.admin) or data.is_active is False
        )
        if loses_admin and not await self.users.other_active_admin_exists(user.id):
            raise Conflict("The last active admin cannot be demoted or deactivated", detail={"user_id": str(user.id)})
        for field, value in changes.items():
            setattr(user, field, value.value if isinstance(value, Role) else value)
        log.info("users.admin_updated", user_id=str(user.id), by=str(caller.id), fields=sorted(changes))
        return await self.users.save(user)

    async def upsert_admin(self, data: UserCreate) -> bool:
        """Make `data.email` an admin with this password; True if the account was created."""
        existing = await self.users.get_by_email(data.email)
        if existing is None:
            await self.register(data, role=Role.admin)
            return True
        existing.role = Role.admin
        existing.is_active = True
        existing.password_hash = await ahash_password(data.password)
        existing.tokens_valid_after = now_ms()
        await self.users.save(existing)
        log.info("users.admin_reset", user_id=str(existing.id))
        return False

    async def ensure_admin(self, *, email: str, password: str, display_name: str = "Administrator") -> User | None:
        """Create the first admin unless an admin exists. Returns the new admin, or None."""
        if await self.users.any_admin():
            return None
        existing = await self.users.get_by_email(email)
        if existing is not None:
            existing.role = Role.admin
            log.warning("users.promoted_to_admin", user_id=str(existing.id))
            return await self.users.save(existing)
        return await self.register(
            UserCreate(email=email, password=password, display_name=display_name), role=Role.admin
        )
