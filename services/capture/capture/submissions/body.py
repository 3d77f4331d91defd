"""Reading a submission's body: size limit (413), content type (415), malformed (422)."""

from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import orjson
from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartParser

from capture.exceptions import BodyTooLarge, InputInvalid, UnsupportedContentType
from capture.leads.domain import printable, refuse_nul

FormBody = dict[str, str | list[str]]
MAX_FIELDS = 200
_TYPES = ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")


def content_type_of(request: Request) -> str:
    """The media type without parameters, lowercased; 415 unless JSON, urlencoded or multipart."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in _TYPES:
        raise UnsupportedContentType(
            f"content type '{media_type or 'none'}' is not accepted; send one of "
            + ", ".join(_TYPES))
    return media_type


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body, or 413 as soon as it passes `limit` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def malformed(reason: str) -> InputInvalid:
    """422 for a body that cannot be read at all."""
    return InputInvalid([{"field": "body", "reason": reason, "type": "malformed"}])


async def parse_body(request: Request, media_type: str, raw: bytes) -> FormBody:
    """The submitted fields as text (repeated inputs as lists); 422 when malformed."""
    if media_type == "application/json":
        return _without_nul(_from_json(raw))
    if media_type == "application/x-www-form-urlencoded":
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise malformed("body is not UTF-8") from exc
        try:
            pairs = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS,
                             errors="strict")
        except UnicodeDecodeError:
            raise _not_utf8(text) from None
        return _without_nul({k: v[0] if len(v) == 1 else v for k, v in pairs.items()})
    return _without_nul(await _from_multipart(request, raw))


def _not_utf8(text: str) -> InputInvalid:
    """422 naming the first input whose percent-encoded bytes are not UTF-8 (a page in another
    charset): refused, never stored with replacement characters."""
    name = "body"
    for pair in text.split("&"):
        raw_name, _, raw_value = pair.partition("=")
        try:
            unquote_plus(raw_name, errors="strict")
            unquote_plus(raw_value, errors="strict")
        except UnicodeDecodeError:
            name = printable(unquote_plus(raw_name, errors="replace"))[:100]
            break
    return InputInvalid([{"field": name, "reason": "is not UTF-8 text; give the page <meta "
                          "charset=\"utf-8\"> or the form accept-charset=\"UTF-8\"",
                          "type": "unicode"}])


def _without_nul(body: FormBody) -> FormBody:
    """The body, or 422 naming the first input whose name or value holds a NUL character
    (every submission, spam included, is stored, and PostgreSQL stores no NUL)."""
    for name, value in body.items():
        try:
            refuse_nul({name: value})
        except ValueError as exc:
            raise InputInvalid([{"field": printable(name)[:100], "reason": str(exc),
                                 "type": "value_error"}]) from None
    return body


def _from_json(raw: bytes) -> FormBody:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise malformed(f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise malformed("body must be a JSON object of field names to values")
    if len(data) > MAX_FIELDS:
        raise malformed(f"at most {MAX_FIELDS} fields")
    out: FormBody = {}
    for name, value in data.items():
        out[name] = _json_text(name, value)
    return out


def _json_text(name: str, value: Any) -> str | list[str]:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return [str(v) for v in value]
    raise InputInvalid([{"field": name[:100], "reason": "must be text, a number, true/false "
                         "or a list of those", "type": "type_error"}])


async def _from_multipart(request: Request, raw: bytes) -> FormBody:
    async def replay() -> AsyncGenerator[bytes, None]:
        yield raw

    # Parse the already size-checked bytes with Starlette's multipart parser.
    parser = MultiPartParser(request.headers, replay(), max_files=20, max_fields=MAX_FIELDS)
    try:
        form = await parser.parse()
    except Exception as exc:  # the parser raises several types for broken multipart bodies
        raise malformed(f"body is not valid multipart/form-data: {exc}") from exc
    out: FormBody = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            raise InputInvalid([{"field": name[:100], "reason": "file uploads are not accepted",
                                 "type": "file_not_allowed"}])
        previous = out.get(name)
        if previous is None:
            out[name] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            out[name] = [previous, value]
    return out
