"""Templates as data: what a template is, which variables it may use, how it is checked when
saved and rendered for a lead. Pure, no I/O.

Rendering is Jinja2's SandboxedEnvironment (a template cannot reach Python internals) with
StrictUndefined (a misspelt variable is an error, never an empty string). Every variable and
attribute a template names is checked when it is saved, in every branch, and the template is
rendered once for a sample lead, so what could fail at send time is a 422 at save time naming
the field and the line. Empty values (a lead without a company) render as "".
"""

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2 import Template as Jinja
from jinja2.sandbox import SandboxedEnvironment

from nurture.content.plaintext import html_to_text
from nurture.exceptions import TemplateInvalid
from nurture.sequences.steps import Channel

POSTAL_FIELDS = frozenset({"street", "city", "postal_code", "region", "country"})
LEAD_FIELDS = frozenset({"first_name", "last_name", "email", "company", "job_title", "phone",
                         "country", "region", "industry", "time_zone", "postal_address",
                         "properties"})
REP_FIELDS = frozenset({"name", "email", "team"})
LINK_FIELDS = frozenset({"unsubscribe"})
# Top-level variables, and the attributes a template may read of each (None: any, or none).
VARIABLES: dict[str, frozenset[str] | None] = {
    "lead": LEAD_FIELDS, "rep": REP_FIELDS, "links": LINK_FIELDS,
    "score": None, "track": None, "sales_phone": None,
}
FIELDS = ("subject", "html", "text")


def _finalize(value: Any) -> Any:
    return "" if value is None else value


def _environment(autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=autoescape,
                                finalize=_finalize, keep_trailing_newline=True)


# HTML bodies are autoescaped (a lead's name cannot inject markup); subjects and text are not.
_ENVIRONMENTS = {"html": _environment(True), "subject": _environment(False),
                 "text": _environment(False)}


@dataclass(frozen=True)
class Problem:
    """What is wrong with one field of a template, and where."""

    field: str
    reason: str
    line: int | None = None

    def message(self) -> str:
        """The reason, with the line when known."""
        return f"line {self.line}: {self.reason}" if self.line else self.reason


@dataclass(frozen=True)
class Template:
    """One version of a template. Versions are immutable: an edit is a new version."""

    key: str
    version: int
    channel: Channel
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    _compiled: dict[str, Jinja] = field(default_factory=dict, compare=False, repr=False)

    def compiled(self, name: str) -> Jinja:
        """The field compiled once (a template is rendered for many leads)."""
        found = self._compiled.get(name)
        if found is None:
            source = getattr(self, name)
            found = self._compiled[name] = _ENVIRONMENTS[name].from_string(source)
        return found


@dataclass(frozen=True)
class Rendered:
    """A template rendered for one lead: the subject, HTML and plain text it has (the text
    written from the HTML when the template has none)."""

    subject: str | None
    html: str | None
    text: str


def shape_problems(channel: Channel, subject: str | None, html: str | None,
                   text: str | None) -> list[Problem]:
    """Which fields a template of `channel` must or must not have: email needs a subject and
    HTML; SMS and voice are plain text only; fax and direct mail need HTML or text."""
    problems = []
    if channel == Channel.email:
        if not subject:
            problems.append(Problem("subject", "an email template needs a subject"))
        if not html:
            problems.append(Problem("html", "an email template needs an HTML body"))
    elif channel in (Channel.sms, Channel.voice):
        if not text:
            problems.append(Problem("text", f"a {channel.value} template needs a text body"))
        for name, value in (("subject", subject), ("html", html)):
            if value:
                problems.append(Problem(name, f"a {channel.value} template is plain text only"))
    elif not html and not text:
        problems.append(Problem("html", f"a {channel.value} template needs HTML or text"))
    return problems


def _name_line(ast: nodes.Template, name: str) -> int | None:
    for node in ast.find_all(nodes.Name):
        if node.name == name:
            return int(node.lineno)
    return None


def _attribute_of(node: nodes.Getattr | nodes.Getitem) -> str | None:
    if isinstance(node, nodes.Getattr):
        return str(node.attr)
    if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return node.arg.value
    return None


def _static_problems(name: str, ast: nodes.Template) -> list[Problem]:
    """Unknown variables and attributes, wherever they are (also in branches not taken)."""
    env = _ENVIRONMENTS[name]
    problems = []
    for unknown in sorted(meta.find_undeclared_variables(ast)):
        if unknown not in VARIABLES and unknown not in env.globals:
            problems.append(Problem(name, f"unknown variable '{unknown}' (known: "
                                    f"{', '.join(sorted(VARIABLES))})", _name_line(ast, unknown)))
    for found in ast.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(found, (nodes.Getattr, nodes.Getitem))
        node = found
        attribute = _attribute_of(node)
        target = node.node
        if attribute is None:
            continue
        if isinstance(target, nodes.Name):
            allowed = VARIABLES.get(target.name)
            owner = target.name
        elif isinstance(target, (nodes.Getattr, nodes.Getitem)) and \
                isinstance(target.node, nodes.Name) and target.node.name == "lead" and \
                _attribute_of(target) == "postal_address":
            allowed, owner = POSTAL_FIELDS, "lead.postal_address"
        else:
            continue
        if allowed is not None and attribute not in allowed:
            problems.append(Problem(name, f"unknown variable '{owner}.{attribute}' (known: "
                                    f"{', '.join(sorted(allowed))})", int(node.lineno)))
    return problems


def _line_of(tb: TracebackType | None) -> int | None:
    """The template line a rendering error happened on (Jinja maps its frames to it)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def check(channel: Channel, subject: str | None, html: str | None,
          text: str | None) -> None:
    """Raise TemplateInvalid unless the template parses, names only known variables, and
    renders for a sample lead."""
    problems = shape_problems(channel, subject, html, text)
    sources = {"subject": subject, "html": html, "text": text}
    for name, source in sources.items():
        if not source:
            continue
        env = _ENVIRONMENTS[name]
        try:
            ast = env.parse(source)
        except TemplateSyntaxError as exc:
            problems.append(Problem(name, f"syntax error: {exc.message}", exc.lineno))
            continue
        found = _static_problems(name, ast)
        problems += found
        if found:
            continue
        try:
            env.from_string(source).render(sample_variables())
        except Exception as exc:  # anything a send would hit: a filter on a wrong type...
            problems.append(Problem(name, f"{type(exc).__name__}: {exc}"[:300],
                                    _line_of(sys.exc_info()[2])))
    if problems:
        raise TemplateInvalid(problems)


class _Properties(dict[str, Any]):
    """A lead's custom properties: one the lead does not have reads as empty (leads differ in
    which they have; a template cannot know them all when it is saved)."""

    def __missing__(self, key: str) -> None:
        return None


def variables(lead: Mapping[str, Any], score: int | None, rep: Mapping[str, Any] | None,
              unsubscribe_url: str, track: Callable[[str], str],
              sales_phone: str) -> dict[str, Any]:
    """What a template sees of one lead: its profile, score, rep and links."""
    return {"lead": {name: lead.get(name) for name in LEAD_FIELDS} | {
                "properties": _Properties(lead.get("properties") or {})},
            "score": score,
            "rep": None if rep is None else {name: rep.get(name) for name in REP_FIELDS},
            "links": {"unsubscribe": unsubscribe_url},
            "track": track, "sales_phone": sales_phone}


def _sample_track(url: str) -> str:
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ValueError(f"track() takes an http(s) URL, not {str(url)[:100]!r}")
    return url


SAMPLE_LEAD: dict[str, Any] = {
    "first_name": "Sam", "last_name": "Sample", "email": "sam@example.com",
    "company": "Example Ltd", "job_title": "Head of Marketing", "phone": "+15550100123",
    "country": "US", "region": "CA", "industry": "Software", "time_zone": "America/New_York",
    "postal_address": {"street": "1 Main St", "city": "Springfield", "postal_code": "12345",
                       "region": "CA", "country": "US"},
    "properties": {},
}


def sample_variables() -> dict[str, Any]:
    """Variables of a made-up lead, for checks and previews without one."""
    return variables(SAMPLE_LEAD, 42, {"name": "Alex Rep", "email": "alex@example.com",
                                       "team": "emea"},
                     "https://example.com/unsubscribe", _sample_track, "+1 555 0100")


def render(template: Template, values: Mapping[str, Any]) -> Rendered:
    """The template rendered with `values` (see `variables`)."""
    subject = template.compiled("subject").render(values) if template.subject else None
    html = template.compiled("html").render(values) if template.html else None
    if template.text:
        text = template.compiled("text").render(values)
    else:
        text = html_to_text(html or "")
    if subject is not None:
        subject = " ".join(subject.split())
    return Rendered(subject=subject, html=html, text=text)
