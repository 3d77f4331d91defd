"""Forms as submissions read them: from memory, reloaded when any form changes.

Every submission, preflight, tracking beacon and embed script needs its form's config and key
hash; they are read once and kept (a `Reference`, checked against a version query at most once
a second, so a change on any replica is seen within a second). The admin routes invalidate it
in their own process. A form id not in memory (created on another replica a moment ago) is
looked up directly.
"""

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from capture.forms import repository as forms_repository
from capture.forms.definition import FormConfigIn
from leadloop.app import Runtime
from leadloop.reference import Reference


@dataclass(frozen=True)
class LoadedForm:
    """A form's config and the hash of its public key."""

    config: FormConfigIn
    key_sha256: str


# Every form's id, update time and key hash: changes whenever a form is created, replaced,
# re-keyed or removed.
_VERSION = text("SELECT md5(coalesce(string_agg(id || '|' || updated_at::text || '|' || "
                "public_key_sha256, ',' ORDER BY id), '')) FROM forms")


async def _load(conn: AsyncConnection) -> dict[str, LoadedForm]:
    return {row.id: LoadedForm(FormConfigIn.model_validate(row.config), row.public_key_sha256)
            for row in await forms_repository.list_forms(conn)}


async def _version(conn: AsyncConnection) -> str:
    return str(await conn.scalar(_VERSION))


def _reference(runtime: Runtime) -> Reference[dict[str, LoadedForm]]:
    found: Reference[dict[str, LoadedForm]] | None = getattr(runtime, "capture_forms", None)
    if found is None:
        found = Reference(_load, _version)
        runtime.capture_forms = found  # type: ignore[attr-defined]
    return found


async def find_form(runtime: Runtime, form_id: str) -> LoadedForm | None:
    """The form with this id, or None."""
    async with runtime.engine.connect() as conn:
        loaded = (await _reference(runtime).get(conn)).get(form_id)
        if loaded is not None:
            return loaded
        row = await forms_repository.get_form(conn, form_id)
    if row is None:
        return None
    return LoadedForm(FormConfigIn.model_validate(row.config), row.public_key_sha256)


def forms_changed(runtime: Runtime) -> None:
    """This process changed a form: read them afresh on the next request."""
    _reference(runtime).invalidate()
