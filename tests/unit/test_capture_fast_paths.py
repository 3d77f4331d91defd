"""The per-row fast paths give exactly what the validation libraries give."""

from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from capture.domain import normalize_email

# Characters that matter to email syntax: atext, dots, quotes, brackets, @, spaces, non-ASCII.
_PIECES = st.sampled_from([*"aZ09.-_+!#$%&'*/=?^`{|}~\"()<>[]\\,;: @", "é", "ß", "例", "\u200b",
                           "xn--"])
_DOMAINS = st.sampled_from(["example.com", "Example-Corp.COM", "a.b", "localhost", "x..y",
                            "-bad.com", "bad-.com", "123.45", "mail.xn--bcher-kva.de",
                            "invalid", "example", "test.test", "a" * 64 + ".com",
                            ("a" * 60 + ".") * 4 + "com", "münchen.de", "[127.0.0.1]"])


def _library(text: str) -> str | Exception:
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        return ValueError(str(exc))


def _ours(text: str) -> str | Exception:
    try:
        return normalize_email(text)
    except ValueError as exc:
        return exc


def _same(text: str) -> None:
    ours, theirs = _ours(text), _library(text)
    if isinstance(theirs, Exception):
        assert isinstance(ours, ValueError) and str(ours) == str(theirs), text
    else:
        assert ours == theirs, text


@settings(max_examples=3000, deadline=None)
@given(local=st.lists(_PIECES, min_size=0, max_size=70).map("".join), domain=_DOMAINS)
@example(local="Person.Tag.1", domain="Company-1.com")
@example(local="a" * 250, domain="example.com")
@example(local=".a", domain="example.com")
@example(local="a..b", domain="example.com")
@example(local="postmaster", domain="EXAMPLE.com")
def test_email_fast_path_agrees_with_email_validator(local: str, domain: str) -> None:
    _same(f"{local}@{domain}")
    _same(f"  {local}@{domain} ")


@settings(max_examples=1000, deadline=None)
@given(st.text(min_size=0, max_size=40))
def test_email_fast_path_agrees_on_arbitrary_text(text: str) -> None:
    _same(text)
