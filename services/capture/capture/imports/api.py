"""Bulk import routes: POST a CSV, then follow its progress and per-row errors."""

import codecs
import csv
import hashlib
import io
import tempfile
import uuid
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response

from capture.config import CaptureSettings
from capture.idempotency import service as idempotency
from capture.imports import repository
from capture.imports import service as imports
from capture.imports.domain import check_mapping, default_mapping, detect_delimiter
from capture.imports.repository import Import
from capture.imports.schemas import ImportOut
from leadloop.app import Runtime, get_runtime, settings_of
from leadloop.auth import require_scope

router = APIRouter(prefix="/v1/imports", tags=["imports"])
CSV_TYPES = ("text/csv", "application/csv")


def _invalid(field: str, reason: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, {
        "detail": "request is invalid",
        "errors": [{"field": field, "reason": reason, "type": "value_error"}]})


def _charset(content_type: str) -> str:
    """The CSV's declared charset (UTF-8 when none is given); 415 for one we cannot read."""
    charset = "utf-8"
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower() or charset
    try:
        codecs.lookup(charset)
    except LookupError:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            f"charset '{charset[:50]}' is not known; send UTF-8 or name the "
                            "file's charset, e.g. text/csv; charset=windows-1252") from None
    return "utf-8-sig" if codecs.lookup(charset).name == "utf-8" else charset


async def _spool(request: Request, limit: int, charset: str
                 ) -> "tempfile.SpooledTemporaryFile[bytes]":
    """Stream the body to a temporary file as UTF-8 (transcoded from `charset`); 413 past
    `limit` bytes, 422 where a byte is not of that charset (never silently replaced)."""
    spool: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(8 * 1024 * 1024)
    decoder = codecs.getincrementaldecoder(charset)(errors="strict")
    size = 0
    try:
        async for chunk in request.stream():
            if size + len(chunk) > limit:
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                                    f"a CSV import may be at most {limit} bytes")
            try:
                spool.write(decoder.decode(chunk).encode())
            except UnicodeDecodeError as exc:
                raise _not_in_charset(charset, size + max(exc.start, 0), exc.object,
                                      exc.start) from None
            size += len(chunk)
        try:
            spool.write(decoder.decode(b"", final=True).encode())
        except UnicodeDecodeError as exc:
            raise _not_in_charset(charset, size, exc.object, exc.start) from None
    except BaseException:
        spool.close()
        raise
    return spool


def _not_in_charset(charset: str, offset: int, data: bytes, start: int) -> HTTPException:
    shown = "UTF-8" if charset == "utf-8-sig" else charset
    byte = data[start:start + 1].hex() if 0 <= start < len(data) else "end of file"
    hint = ("save it as 'CSV UTF-8', or declare its charset (Excel's 'CSV' is usually "
            "text/csv; charset=windows-1252)") if shown == "UTF-8" else "declare its real charset"
    return _invalid("body", f"the file is not {shown}: byte 0x{byte} near offset {offset} "
                    f"cannot be read; {hint}")


def _mapping(spool: "tempfile.SpooledTemporaryFile[bytes]", raw: str | None) -> dict[str, str]:
    spool.seek(0)
    first = spool.readline().decode("utf-8")  # checked (and transcoded) while spooling
    try:
        header = next(csv.reader(io.StringIO(first), delimiter=detect_delimiter(first)), [])
    except csv.Error as exc:  # e.g. a column name past the csv module's field limit
        raise _invalid("header", f"the header line cannot be read: {exc}") from exc
    if any("\x00" in column for column in header):
        raise _invalid("header", "a column name contains a NUL character (\\0)")
    if raw is None:
        mapping = default_mapping(header)
    else:
        try:
            mapping = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise _invalid("mapping", f"not JSON: {exc}") from exc
        if not isinstance(mapping, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
            raise _invalid("mapping", "must be a JSON object of column name to lead field")
        missing = [c for c in mapping if c not in header]
        if missing:
            raise _invalid("mapping", f"columns not in the CSV header: {missing[:10]}")
    problems = check_mapping(mapping)
    if problems:
        raise _invalid("mapping", "; ".join(problems))
    return mapping


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=ImportOut,
             dependencies=[Depends(require_scope("leads:write"))])
async def post_import(
    request: Request,
    mapping: str | None = Query(None, description='JSON: {"CSV column": "lead field or '
                                'properties.<name> or consent.email_marketing"}'),
    campaign: str | None = Query(None, max_length=200),
    runtime: Runtime = Depends(get_runtime),
) -> Response:
    """Import a CSV (streamed; rows dedupe like submissions); returns the import to follow."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in CSV_TYPES:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            f"content type '{media_type or 'none'}' is not accepted; send text/csv")
    if campaign is not None and "\x00" in campaign:
        raise _invalid("campaign", "must not contain a NUL character (\\0)")
    limit = settings_of(runtime, CaptureSettings).import_max_bytes
    spool = await _spool(request, limit, _charset(request.headers.get("content-type", "")))
    try:
        columns = _mapping(spool, mapping)
        key = idempotency.idempotency_key(request)
        fingerprint = idempotency.request_fingerprint(request, orjson.dumps(
            [str(request.url.query), _digest(spool)]))
        import_id = uuid.uuid4()
        async with runtime.unit_of_work() as uow:
            replay = await idempotency.replay_if_seen(uow, "imports", key, fingerprint)
            if replay is not None:
                return replay
            # The CSV is stored with the import row before we answer: a crash after the 202
            # loses nothing, and any replica can resume the import.
            await imports.save_upload(uow, import_id, spool, columns, campaign)
            stored = await repository.get_import(uow.connection, import_id)
            assert stored is not None  # written just above, in this transaction
            body = _out(stored).model_dump(mode="json")
            await idempotency.remember(uow, "imports", key, 202, {"kind": "json", "body": body})
            await uow.commit()
    finally:
        spool.close()
    runtime.wakeup(imports.WAKEUP).set()
    return JSONResponse(body, status_code=202, headers={"Location": f"/v1/imports/{import_id}"})


def _digest(spool: "tempfile.SpooledTemporaryFile[bytes]") -> str:
    spool.seek(0)
    digest = hashlib.sha256()
    for block in iter(lambda: spool.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def _out(row: Import) -> ImportOut:
    return ImportOut(**dict(row.progress))


@router.get("/{import_id}", response_model=ImportOut,
            dependencies=[Depends(require_scope("leads:read"))])
async def get_import(import_id: UUID, runtime: Runtime = Depends(get_runtime)) -> ImportOut:
    """An import's progress and per-row errors (the first 1000)."""
    async with runtime.unit_of_work() as uow:
        row = await repository.get_import(uow.connection, import_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no import with this id")
    return _out(row)
