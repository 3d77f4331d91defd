"""A Hypothesis strategy for the JSON bodies a form posts to capture, shared by the property
tests that hold a fast path (group commit, bulk import) to the one-at-a-time rules."""

from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st


def spellings(emails: Sequence[str]) -> st.SearchStrategy[str]:
    """One of `emails`, as typed: as stored, in capitals, or title-cased between spaces (capture
    folds them all to the same person)."""
    return st.sampled_from(emails).flatmap(
        lambda email: st.sampled_from([email, email.upper(), f"  {email.title()} "]))


@st.composite
def lead_bodies(draw: st.DrawFn, emails: Sequence[str],
                fields: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """A body with one of `emails` (see `spellings`), each of `fields` left out or set to one of
    its values (an empty value is left out too), and maybe a property and a consent."""
    body: dict[str, Any] = {"email": draw(spellings(emails))}
    for name, values in fields.items():
        value = draw(st.sampled_from([None, *values]))
        if value:
            body[name] = value
    if draw(st.booleans()):
        body["properties"] = {"tier": draw(st.sampled_from(["gold", "silver"]))}
    if draw(st.booleans()):
        body["consent"] = {"email_marketing": draw(st.booleans())}
    return body
