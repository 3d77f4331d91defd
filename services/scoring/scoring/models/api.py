"""Admin routes for scoring models: create, read, diff, activate, re-score progress, train,
evaluate, backtest."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import AwareDatetime
from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.app import Runtime, get_runtime, unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.pagination import cursor_query, decode_cursor, limit_query, page_of
from leadloop.problems import invalid_query
from scoring.exceptions import ActivationRefused, NotTrainable
from scoring.learning import service as learning_service
from scoring.models import repository
from scoring.models import service as model_service
from scoring.models.diff import diff_models
from scoring.models.schemas import (
    ActivationOut,
    EvaluationOut,
    ModelDiffOut,
    RescoreJobOut,
    RescoreJobsOut,
    ScoringModelIn,
    ScoringModelOut,
    TemplateOut,
    TemplatesOut,
)
from scoring.models.templates import TEMPLATES
from scoring.models.worker import wake_rescore

# Versions are PostgreSQL integers: bound them so a huge number is a 422, not a database error.
ModelVersion = Annotated[int, Path(ge=1, le=2**31 - 1, description="model version")]

router = APIRouter(prefix="/v1/models", tags=["models"],
                   dependencies=[Depends(require_scope("admin"))])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such model version"}}
_UNTRAINED: dict[int | str, dict[str, Any]] = {
    409: {"description": "The version's MQL definition needs a win probability it cannot give "
                         "yet (never trained, or no learning configured)"}}


async def _model(conn: AsyncConnection, version: int) -> ScoringModelOut:
    row = await repository.get_model(conn, version)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no scoring model version {version}")
    return ScoringModelOut.model_validate(row, from_attributes=True)


@router.post("", response_model=ScoringModelOut, status_code=status.HTTP_201_CREATED,
             responses=_UNTRAINED)
async def create_model(body: ScoringModelIn,
                       uow: UnitOfWork = Depends(unit_of_work)) -> ScoringModelOut:
    """Store a new version of the rules (the next number), from a full config or a template;
    `activate` also puts it in force."""
    async with uow:
        version = await model_service.create_model(uow, body.name, body.rules())
        if body.activate:
            try:
                await model_service.activate_model(uow, version)
            except ActivationRefused as exc:
                raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        created = await _model(uow.connection, version)
        await uow.commit()
    return created


@router.get("/templates", response_model=TemplatesOut)
async def list_templates(limit: int = limit_query(),
                         cursor: str | None = cursor_query()) -> TemplatesOut:
    """The templates a version can be created from (`POST /v1/models` with `template`), by
    name. They ship with scoring (a handful, in memory), so the page is cut here, not in SQL."""
    after = None if cursor is None else str(decode_cursor(cursor, 1)[0])
    names = sorted(name for name in TEMPLATES if after is None or name > after)
    kept, next_cursor = page_of(names[:limit + 1], limit, lambda name: [name])
    return TemplatesOut(next_cursor=next_cursor, items=[
        TemplateOut(name=name, description=TEMPLATES[name][1],  # type: ignore[arg-type]
                    config=TEMPLATES[name][0]) for name in kept])


@router.get("/{version}", response_model=ScoringModelOut, responses=_NOT_FOUND)
async def get_model(version: ModelVersion,
                    uow: UnitOfWork = Depends(unit_of_work)) -> ScoringModelOut:
    """One version: its rules, and whether and since when it is active."""
    async with uow:
        return await _model(uow.connection, version)


@router.get("/{version}/diff", response_model=ModelDiffOut, responses=_NOT_FOUND)
async def diff_model(
    version: ModelVersion,
    against: int | None = Query(None, ge=1, le=2**31 - 1,
                                description="the version to compare with; default: the "
                                            "active one"),
    uow: UnitOfWork = Depends(unit_of_work),
) -> ModelDiffOut:
    """What changes from `against` to this version: rules added, removed, changed; settings."""
    async with uow:
        if against is None:
            against = await repository.active_model_version(uow.connection)
            if against is None:
                raise HTTPException(status.HTTP_409_CONFLICT, "no scoring model is active")
        new, old = await _model(uow.connection, version), await _model(uow.connection, against)
    return ModelDiffOut(from_version=old.version, to_version=new.version,
                        **diff_models(old.config, new.config))


@router.post("/{version}/activate", response_model=ActivationOut,
             status_code=status.HTTP_202_ACCEPTED, responses={**_NOT_FOUND, **_UNTRAINED})
async def activate_model(version: ModelVersion,
                         uow: UnitOfWork = Depends(unit_of_work),
                         runtime: Runtime = Depends(get_runtime)) -> ActivationOut:
    """Put a version in force; every lead is re-scored under it in the background. A version
    whose MQL definition needs a win probability must be trained first (409)."""
    async with uow:
        await _model(uow.connection, version)
        try:
            await model_service.activate_model(uow, version)
        except ActivationRefused as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        # The newest job of the version is the one just started.
        job = (await repository.jobs_of(uow.connection, version, limit=1))[0]
        await uow.commit()
    wake_rescore(runtime)
    return ActivationOut(active_version=version,
                         rescore_job=RescoreJobOut.model_validate(job, from_attributes=True))


@router.get("/{version}/rescore", response_model=RescoreJobsOut, responses=_NOT_FOUND)
async def rescore_progress(version: ModelVersion, limit: int = limit_query(),
                           cursor: str | None = cursor_query(),
                           uow: UnitOfWork = Depends(unit_of_work)) -> RescoreJobsOut:
    """Progress of re-scoring under a version (latest jobs first)."""
    async with uow:
        await _model(uow.connection, version)
        rows = await repository.job_page(uow.connection, version, cursor, limit)
    kept, next_cursor = repository.JOB_ORDER.page(rows, limit)
    return RescoreJobsOut(model_version=version, next_cursor=next_cursor, items=[
        RescoreJobOut.model_validate(job, from_attributes=True) for job in kept])


@router.post("/{version}/train", response_model=EvaluationOut,
             status_code=status.HTTP_201_CREATED,
             responses={**_NOT_FOUND, 409: {"description": "The version cannot be trained yet"}})
async def train_model(
    version: ModelVersion,
    closed_from: AwareDatetime | None = Query(
        None, description="learn only from outcomes closed at or after this time"),
    closed_to: AwareDatetime | None = Query(
        None, description="learn only from outcomes closed before this time"),
    uow: UnitOfWork = Depends(unit_of_work),
    runtime: Runtime = Depends(get_runtime),
) -> EvaluationOut:
    """Train the version's learned model on outcomes (won and lost deals, leads closed as not
    converted), optionally of one period: evaluated on a stratified held-out share of leads,
    then refit on all of them for the model that is served. Training the active version also
    re-scores every lead (progress: GET .../rescore)."""
    _check_period(closed_from, closed_to)
    async with uow:
        await _model(uow.connection, version)
        try:
            await learning_service.train_version(uow, version, closed_from, closed_to)
        except NotTrainable as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        out = await _evaluation(uow.connection, version)  # the training just stored
        await uow.commit()
    wake_rescore(runtime)  # training the active version started a re-score
    return out


def _check_period(closed_from: datetime | None, closed_to: datetime | None) -> None:
    """422 naming the query parameter, in the shape of any other validation error."""
    for name, at in (("closed_from", closed_from), ("closed_to", closed_to)):
        try:
            at is None or at.astimezone(UTC)
        except OverflowError:
            raise invalid_query(name, "is out of the range of dates") from None
    if closed_from is not None and closed_to is not None and closed_from >= closed_to:
        raise invalid_query("closed_to", "must be later than closed_from")


async def _evaluation(conn: AsyncConnection, version: int) -> EvaluationOut:
    row = await repository.latest_training(conn, version)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"model version {version} has not been trained")
    return EvaluationOut(model_version=version, training_id=row.id, trained_at=row.trained_at,
                         deals=row.deals, evaluation=row.evaluation)


@router.get("/{version}/evaluation", response_model=EvaluationOut, responses=_NOT_FOUND)
async def get_evaluation(version: ModelVersion,
                         uow: UnitOfWork = Depends(unit_of_work)) -> EvaluationOut:
    """The latest training's evaluation on held-out leads: AUC of rules-only vs learned, Brier
    score (and the base rate's), reliability bins, win rate per score and probability band,
    lift, and the served (refit) model's weights."""
    async with uow:
        await _model(uow.connection, version)
        return await _evaluation(uow.connection, version)


@router.post("/{version}/backtest", responses=_NOT_FOUND)
async def backtest_model(version: ModelVersion,
                         uow: UnitOfWork = Depends(unit_of_work)) -> dict[str, Any]:
    """Replay stored leads and outcomes under the version: MQLs it would make, their win rate,
    the weekly load on sales. Nothing is stored or sent."""
    async with uow:
        await _model(uow.connection, version)
        return await learning_service.backtest_version(uow, version)
