"""Admin routes for scoring models: create, read, diff, activate, re-score progress, train,
evaluate, backtest."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from sqlalchemy.ext.asyncio import AsyncConnection

from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from scoring import learning_service, model_repository, model_service, repository
from scoring.model_diff import diff_models
from scoring.schemas import (
    ActivationOut,
    EvaluationOut,
    ModelDiffOut,
    RescoreJobOut,
    RescoreJobsOut,
    ScoringModelIn,
    ScoringModelOut,
)

# Versions are PostgreSQL integers: bound them so a huge number is a 422, not a database error.
ModelVersion = Annotated[int, Path(ge=1, le=2**31 - 1, description="model version")]

router = APIRouter(prefix="/v1/models", tags=["models"],
                   dependencies=[Depends(require_scope("admin"))])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such model version"}}


async def _model(conn: AsyncConnection, version: int) -> ScoringModelOut:
    row = await model_repository.get_model(conn, version)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no scoring model version {version}")
    return ScoringModelOut.model_validate(row, from_attributes=True)


@router.post("", response_model=ScoringModelOut, status_code=status.HTTP_201_CREATED)
async def create_model(body: ScoringModelIn,
                       uow: UnitOfWork = Depends(unit_of_work)) -> ScoringModelOut:
    """Store a new version of the rules (the next number); `activate` also puts it in force."""
    async with uow:
        version = await model_service.create_model(uow, body.name, body.config)
        if body.activate:
            await model_service.activate_model(uow, version)
        created = await _model(uow.connection, version)
        await uow.commit()
    return created


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
             status_code=status.HTTP_202_ACCEPTED, responses=_NOT_FOUND)
async def activate_model(version: ModelVersion,
                         uow: UnitOfWork = Depends(unit_of_work)) -> ActivationOut:
    """Put a version in force; every lead is re-scored under it in the background."""
    async with uow:
        await _model(uow.connection, version)
        await model_service.activate_model(uow, version)
        # The newest job of the version is the one just started.
        job = (await model_repository.jobs_of(uow.connection, version, limit=1))[0]
        await uow.commit()
    return ActivationOut(active_version=version,
                         rescore_job=RescoreJobOut.model_validate(job, from_attributes=True))


@router.get("/{version}/rescore", response_model=RescoreJobsOut, responses=_NOT_FOUND)
async def rescore_progress(version: ModelVersion,
                           uow: UnitOfWork = Depends(unit_of_work)) -> RescoreJobsOut:
    """Progress of re-scoring under a version (latest jobs first)."""
    async with uow:
        await _model(uow.connection, version)
        jobs = await model_repository.jobs_of(uow.connection, version)
    return RescoreJobsOut(model_version=version, jobs=[
        RescoreJobOut.model_validate(job, from_attributes=True) for job in jobs])


@router.post("/{version}/train", response_model=EvaluationOut,
             status_code=status.HTTP_201_CREATED,
             responses={**_NOT_FOUND, 409: {"description": "The version cannot be trained yet"}})
async def train_model(version: ModelVersion,
                      uow: UnitOfWork = Depends(unit_of_work)) -> EvaluationOut:
    """Train the version's learned model on closed deals now, and evaluate it on held-out leads.
    Training the active version also re-scores every lead (progress: GET .../rescore)."""
    async with uow:
        await _model(uow.connection, version)
        try:
            await learning_service.train_version(uow, version)
        except learning_service.NotTrainable as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        out = await _evaluation(uow.connection, version)  # the training just stored
        await uow.commit()
    return out


async def _evaluation(conn: AsyncConnection, version: int) -> EvaluationOut:
    row = await model_repository.latest_training(conn, version)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"model version {version} has not been trained")
    return EvaluationOut(model_version=version, training_id=row.id, trained_at=row.trained_at,
                         deals=row.deals, evaluation=row.evaluation)


@router.get("/{version}/evaluation", response_model=EvaluationOut, responses=_NOT_FOUND)
async def get_evaluation(version: ModelVersion,
                         uow: UnitOfWork = Depends(unit_of_work)) -> EvaluationOut:
    """The latest training's evaluation on held-out leads: AUC of rules-only vs learned, win
    rate per score and probability band, lift, and the learned weights."""
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
