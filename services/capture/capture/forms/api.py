"""Admin routes for forms: create, read, replace, rotate the public key."""

import secrets
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import Response

from capture.forms import repository as forms_repository
from capture.forms.definition import FormConfigIn
from capture.forms.reference import forms_changed
from capture.forms.repository import StoredForm
from capture.forms.schemas import FormOut
from capture.idempotency import service as idempotency
from leadloop.app import Runtime, get_runtime, unit_of_work
from leadloop.auth import hash_key, require_scope
from leadloop.db import UnitOfWork
from leadloop.pagination import Page, cursor_query, limit_query

router = APIRouter(prefix="/v1/forms", tags=["forms"],
                   dependencies=[Depends(require_scope("admin"))])

FORM_KEY_PREFIX = "pfk_"


def new_form_key() -> str:
    """A public form key: it may submit to its one form and do nothing else."""
    return FORM_KEY_PREFIX + secrets.token_urlsafe(24)


def form_out(row: StoredForm, public_key: str | None = None) -> FormOut:
    """A stored form as the API shows it."""
    return FormOut.model_validate({**row.config, "id": row.id, "public_key": public_key})


async def _stored(uow: UnitOfWork, form_id: str) -> StoredForm:
    """The form with this id; 404 when there is none."""
    row = await forms_repository.get_form(uow.connection, form_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no form with this id")
    return row


@router.post("", response_model=FormOut, status_code=status.HTTP_201_CREATED)
async def create_form(form: FormConfigIn, request: Request,
                      uow: UnitOfWork = Depends(unit_of_work),
                      runtime: Runtime = Depends(get_runtime)) -> Response:
    """Create a form; the answer carries its public key (shown this once, and to a retry
    with the same Idempotency-Key)."""
    form_id = "frm_" + secrets.token_hex(8)
    key = new_form_key()

    async def create(uow: UnitOfWork) -> dict[str, Any]:
        await forms_repository.insert_form(uow.connection, form_id,
                                           form.model_dump(mode="json"), hash_key(key))
        return form_out(await _stored(uow, form_id), key).model_dump(mode="json")

    response = await idempotency.answer_once(request, uow, "forms", 201, create)
    forms_changed(runtime)
    return response


@router.get("", response_model=Page[FormOut])
async def list_forms(limit: int = limit_query(), cursor: str | None = cursor_query(),
                     uow: UnitOfWork = Depends(unit_of_work)) -> Page[FormOut]:
    """Every form, by id, a page at a time."""
    async with uow:
        rows = await forms_repository.form_page(uow.connection, cursor, limit)
    kept, next_cursor = forms_repository.FORM_ORDER.page(rows, limit)
    return Page[FormOut](items=[form_out(row) for row in kept], next_cursor=next_cursor)


@router.get("/{form_id}", response_model=FormOut)
async def get_form(form_id: str, uow: UnitOfWork = Depends(unit_of_work)) -> FormOut:
    """One form's configuration (never its key)."""
    async with uow:
        return form_out(await _stored(uow, form_id))


@router.put("/{form_id}", response_model=FormOut)
async def replace_form(form_id: str, form: FormConfigIn,
                       uow: UnitOfWork = Depends(unit_of_work),
                       runtime: Runtime = Depends(get_runtime)) -> FormOut:
    """Replace a form's configuration; its id and key stay."""
    async with uow:
        if not await forms_repository.update_form(uow.connection, form_id,
                                                  {"config": form.model_dump(mode="json")}):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no form with this id")
        row = await _stored(uow, form_id)
        await uow.commit()
    forms_changed(runtime)
    return form_out(row)


@router.post("/{form_id}/key", response_model=FormOut)
async def rotate_form_key(form_id: str, request: Request,
                          uow: UnitOfWork = Depends(unit_of_work),
                          runtime: Runtime = Depends(get_runtime)) -> Response:
    """Issue a new public key; the old one stops working at once. A retry with the same
    Idempotency-Key gets the same new key instead of rotating again."""
    key = new_form_key()

    async def rotate(uow: UnitOfWork) -> dict[str, Any]:
        if not await forms_repository.update_form(uow.connection, form_id,
                                                  {"public_key_sha256": hash_key(key)}):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no form with this id")
        return form_out(await _stored(uow, form_id), key).model_dump(mode="json")

    response = await idempotency.answer_once(request, uow, "forms", 200, rotate)
    forms_changed(runtime)
    return response
