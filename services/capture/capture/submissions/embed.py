"""Renders the embed script with a form's settings, key and a fresh fill-time token."""

from functools import cache
from importlib.resources import files

import orjson

from capture.forms.definition import FormConfigIn
from capture.submissions.domain import issue_token


@cache
def _template() -> str:
    return files("capture").joinpath("embed.js").read_text(encoding="utf-8")


def _js_literal(value: object) -> str:
    """JSON that is also safe inside any script context (no '<', '>', '&', U+2028/9)."""
    text = orjson.dumps(value).decode()
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def render_embed_script(form_id: str, form: FormConfigIn, key: str, endpoint: str,
                        secret: bytes) -> str:
    """The script a page includes to bind or render this form."""
    config = {
        "formId": form_id, "key": key, "endpoint": endpoint,
        "token": issue_token(form_id, secret),
        "honeypot": form.spam.honeypot_field,
        "redirect": str(form.redirect_url) if form.redirect_url else None,
        "consentText": form.consent_text,
        "fields": [{"name": f.name, "type": f.type, "label": f.label, "required": f.required,
                    "options": f.options} for f in form.fields],
    }
    return _template().replace("__LEADLOOP_CONFIG__", _js_literal(config))
