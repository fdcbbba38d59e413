"""/api/v1/dedup: check a text for duplicates (anyone, within their own items; staff across all),
clusters of similar suggestions and unlinking (staff)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from loopdesk.auth.deps import CurrentUser, StaffUser
from loopdesk.core.db import SessionDep
from loopdesk.core.deps import SettingsDep
from loopdesk.core.errors import LoopdeskError
from loopdesk.triage.dedup import service
from loopdesk.triage.dedup.clusters import clusters as find_clusters
from loopdesk.triage.dedup.config import DedupSettings
from loopdesk.triage.dedup.embeddings import Embedder, EmbedderUnavailable
from loopdesk.triage.dedup.schemas import (
    CheckIn,
    CheckRead,
    ClusterQuery,
    ClusterRead,
    ClustersRead,
    LinkRead,
    UnlinkIn,
)

router = APIRouter(prefix="/api/v1/dedup", tags=["dedup"])


class EmbeddingsUnavailable(LoopdeskError):
    status_code, code, message = 503, "embeddings_unavailable", "The embedding model could not be loaded"


async def get_dedup_settings(request: Request) -> DedupSettings:
    # A `dedup` group on the app's Settings wins; until it has one, LOOPDESK_DEDUP_* from the environment.
    return getattr(request.app.state.settings, "dedup", None) or service.default_settings()


DedupSettingsDep = Annotated[DedupSettings, Depends(get_dedup_settings)]


async def get_embedder(settings: SettingsDep, dedup: DedupSettingsDep) -> Embedder:
    try:
        return await service.load_embedder(dedup, allow_fallback=not settings.is_production)
    except EmbedderUnavailable as exc:
        raise EmbeddingsUnavailable() from exc


EmbedderDep = Annotated[Embedder, Depends(get_embedder)]


@router.post("/check", response_model=CheckRead)
async def check(
    data: CheckIn, user: CurrentUser, session: SessionDep, dedup: DedupSettingsDep, embedder: EmbedderDep
) -> CheckRead:
    """Matches of a text among items of its kind, each linked / suggested / unlinked, and the decision.
    Customers are compared with their own items only."""
    scope = None if user.is_staff else user.id
    result = await service.check_duplicates(
        session,
        data.item_id,
        data.text,
        data.kind,
        owner_id=scope,
        readable_by=scope,
        settings=dedup,
        embedder=embedder,
    )
    return CheckRead.model_validate(result)


@router.get("/clusters", response_model=ClustersRead)
async def clusters(
    query: Annotated[ClusterQuery, Query()],
    user: StaffUser,
    session: SessionDep,
    dedup: DedupSettingsDep,
    embedder: EmbedderDep,
) -> ClustersRead:
    """Groups of similar items of a kind with their counts, largest first."""
    threshold = dedup.suggest_threshold if query.threshold is None else query.threshold
    found = await find_clusters(
        session,
        query.kind,
        threshold,
        min_size=query.min_size,
        limit=query.limit,
        settings=dedup,
        embedder=embedder,
    )
    return ClustersRead(kind=query.kind, threshold=threshold, clusters=[ClusterRead.model_validate(c) for c in found])


@router.post("/links/{item_id}/unlink", response_model=LinkRead)
async def unlink(item_id: uuid.UUID, data: UnlinkIn, user: StaffUser, session: SessionDep) -> LinkRead:
    """The two items are not duplicates: the pair is never linked or suggested again."""
    return LinkRead.model_validate(await service.unlink(session, item_id, data.other_id, user.id))
