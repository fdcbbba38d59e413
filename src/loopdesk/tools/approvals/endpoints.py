"""Approvals: list the tool calls waiting for a decision, and decide (approve, reject, edit). The
thread's owner may decide; staff and admins may decide for anyone. A decision resumes the run."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from loopdesk.auth.deps import CurrentUser
from loopdesk.core.db import SessionDep
from loopdesk.core.schemas import Page
from loopdesk.runtime.deps import GraphsDep
from loopdesk.tools.approvals.schemas import ApprovalQuery, ApprovalRead, ApproveIn, Decision, EditIn, RejectIn
from loopdesk.tools.approvals.service import ApprovalService
from loopdesk.tools.deps import ToolRegistryDep

router = APIRouter(prefix="/api/v1/approvals", tags=["approvals"])
# The memory/MCP/approvals seed's routes, answering like the canonical ones.
seed_router = APIRouter(prefix="/api/v1/tools", tags=["approvals"])


async def _service(session: SessionDep, graphs: GraphsDep, tools: ToolRegistryDep) -> ApprovalService:
    return ApprovalService(session, graphs, tools)


ServiceDep = Annotated[ApprovalService, Depends(_service)]


@router.get("", response_model=Page[ApprovalRead])
async def list_approvals(
    user: CurrentUser, service: ServiceDep, query: Annotated[ApprovalQuery, Query()]
) -> Page[ApprovalRead]:
    """Approvals you may decide, newest first (`status=pending` by default)."""
    rows, total = await service.list(user, query)
    items = [ApprovalRead.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=query.limit, offset=query.offset)


@seed_router.get("/pending-approvals", response_model=Page[ApprovalRead], include_in_schema=True)
async def pending_approvals(user: CurrentUser, service: ServiceDep) -> Page[ApprovalRead]:
    """Seed alias of `GET /api/v1/approvals?status=pending`."""
    query = ApprovalQuery()
    rows, total = await service.list(user, query)
    return Page(items=[ApprovalRead.model_validate(r) for r in rows], total=total, limit=query.limit, offset=0)


@router.get("/{approval_id}", response_model=ApprovalRead)
async def get_approval(approval_id: uuid.UUID, user: CurrentUser, service: ServiceDep) -> ApprovalRead:
    return ApprovalRead.model_validate(await service.get(user, approval_id))


@router.post("/{approval_id}/approve", response_model=ApprovalRead)
@seed_router.post("/approvals/{approval_id}/approve", response_model=ApprovalRead)
async def approve(
    approval_id: uuid.UUID, user: CurrentUser, service: ServiceDep, data: ApproveIn | None = None
) -> ApprovalRead:
    """Run the tool call as asked; the run continues."""
    decision = Decision(type="approve", message=data.message if data else None)
    return ApprovalRead.model_validate((await service.decide(user, approval_id, decision, via="rest"))[0])


@router.post("/{approval_id}/reject", response_model=ApprovalRead)
@seed_router.post("/approvals/{approval_id}/reject", response_model=ApprovalRead)
async def reject(
    approval_id: uuid.UUID, user: CurrentUser, service: ServiceDep, data: RejectIn | None = None
) -> ApprovalRead:
    """Do not run it; the model is told (with your message) and answers the user."""
    decision = Decision(type="reject", message=data.message if data else None)
    return ApprovalRead.model_validate((await service.decide(user, approval_id, decision, via="rest"))[0])


@router.post("/{approval_id}/edit", response_model=ApprovalRead)
async def edit(approval_id: uuid.UUID, data: EditIn, user: CurrentUser, service: ServiceDep) -> ApprovalRead:
    """Run it with these arguments instead (checked against the tool's schema: 422 if they do not fit)."""
    decision = Decision(type="edit", args=data.args, message=data.message)
    return ApprovalRead.model_validate((await service.decide(user, approval_id, decision, via="rest"))[0])
