"""Templates as data: what is refused when saved (field and line), how a template renders for a
lead, the plain text written from HTML, SMS length in GSM-7 / UCS-2 segments, and sequence steps
pinned to template versions."""

import pytest
from jinja2.exceptions import SecurityError

from nurture.content.catalog import TemplateCatalog, pin_templates
from nurture.content.plaintext import html_to_text
from nurture.content.sms import sms_length
from nurture.content.templates import (
    Template,
    check,
    render,
    sample_variables,
    variables,
)
from nurture.exceptions import TemplateInvalid
from nurture.sequences.steps import Channel, SendEmailStep, SendStep, WaitStep


def _problems(channel: Channel, subject: str | None = None, html: str | None = None,
              text: str | None = None) -> list[tuple[str, int | None, str]]:
    with pytest.raises(TemplateInvalid) as refused:
        check(channel, subject, html, text)
    return [(p.field, p.line, p.reason) for p in refused.value.problems]


def test_a_misspelt_variable_is_refused_with_its_field_and_line_even_in_a_branch() -> None:
    [(field, line, reason)] = _problems(
        Channel.email, "Hi", "<p>Hi</p>\n{% if lead.company %}\n<p>{{ lead.compnay }}</p>\n"
        "{% endif %}")
    assert (field, line) == ("html", 3)
    assert "lead.compnay" in reason and "company" in reason


def test_unknown_top_level_names_and_postal_parts_are_refused() -> None:
    problems = _problems(Channel.sms, text="{{ leed.first_name }}\n{{ lead.postal_address.zip }}")
    assert [(f, line) for f, line, _ in problems] == [("text", 1), ("text", 2)]


def test_a_syntax_error_names_the_line() -> None:
    [(field, line, reason)] = _problems(Channel.email, "Welcome {{ lead.first_name",
                                        "<p>ok</p>")
    assert (field, line) == ("subject", 1) and reason.startswith("syntax error")


def test_a_template_that_fails_for_the_sample_lead_is_refused() -> None:
    [(field, line, reason)] = _problems(Channel.email, "Hi",
                                        "<p>a</p>\n<p>{{ track('ftp://files') }}</p>")
    assert (field, line) == ("html", 2) and "http(s) URL" in reason


def test_each_channel_needs_its_fields() -> None:
    assert {f for f, _, _ in _problems(Channel.email, html="<p>x</p>")} == {"subject"}
    assert {f for f, _, _ in _problems(Channel.sms, subject="s", text="t")} == {"subject"}
    assert {f for f, _, _ in _problems(Channel.direct_mail)} == {"html"}
    check(Channel.direct_mail, None, "<p>Dear {{ lead.first_name }}</p>", None)


def test_the_sandbox_refuses_python_internals() -> None:
    template = Template(key="t", version=1, channel=Channel.sms,
                        text="{{ lead.properties.__class__.__mro__ }}")
    with pytest.raises(SecurityError, match="__class__"):
        render(template, sample_variables())


def test_a_lead_renders_with_empty_values_as_nothing_and_unknown_properties_empty() -> None:
    template = Template(key="t", version=1, channel=Channel.sms,
                        text="Hi {{ lead.first_name }}{{ lead.company }}, plan "
                             "{{ lead.properties.plan }}; {{ rep.name }}")
    values = variables({"first_name": "Ana", "properties": {}}, None,
                       {"name": "Bo", "email": "bo@x.example"}, "https://u", str, "+1")
    assert render(template, values).text == "Hi Ana, plan ; Bo"


def test_plain_text_keeps_headings_paragraphs_lists_and_links() -> None:
    text = html_to_text(
        "<html><head><style>p{color:red}</style></head><body><h1>Spring offer</h1>"
        "<p>Hello   Ana,<br>here is\nwhat changed.</p><ul><li>Faster <b>routing</b></li>"
        "<li><a href='https://x.example/sla'>SLA timers</a></li></ul>"
        "<ol><li>Sign in</li><li>Import</li></ol><p><a href='https://x.example/'>"
        "https://x.example/</a> or call <a href='tel:+15550100'>+1 555 0100</a></p>"
        "<img src='https://x.example/p.gif'></body></html>")
    assert text == ("Spring offer\n============\n\nHello Ana,\nhere is what changed.\n\n"
                    "- Faster routing\n- SLA timers (https://x.example/sla)\n\n"
                    "1. Sign in\n2. Import\n\nhttps://x.example/ or call +1 555 0100\n")


@pytest.mark.parametrize(("text", "expected"), [
    ("a" * 160, ("GSM-7", 160, 1)),
    ("a" * 161, ("GSM-7", 161, 2)),
    ("a" * 306, ("GSM-7", 306, 2)),
    ("a" * 307, ("GSM-7", 307, 3)),
    ("€" * 80, ("GSM-7", 160, 1)),  # extension characters take two septets
    ("{" * 81, ("GSM-7", 162, 2)),
    ("a" * 152 + "€" + "a" * 10, ("GSM-7", 164, 2)),  # the escape pair is never split
    ("Grüße aus Köln, ¿qué?", ("GSM-7", 21, 1)),  # accented letters of the basic table
    ("Ñandú", ("UCS-2", 5, 1)),  # ú is not in it (ù is): the whole text goes as UCS-2
    ("ł" * 70, ("UCS-2", 70, 1)),
    ("ł" * 71, ("UCS-2", 71, 2)),
    ("a" * 134 + "ł", ("UCS-2", 135, 3)),
    ("😀" * 35, ("UCS-2", 70, 1)),  # outside the BMP: a surrogate pair each
    ("😀" * 34 + "a", ("UCS-2", 69, 1)),
    ("a" * 66 + "😀" + "a" * 3, ("UCS-2", 71, 2)),  # the pair opens segment two
])
def test_sms_length_in_segments(text: str, expected: tuple[str, int, int]) -> None:
    length = sms_length(text)
    assert (length.encoding, length.units, length.segments) == expected


def test_an_escape_pair_at_a_segment_boundary_moves_to_the_next_segment() -> None:
    # 152 septets, then "€" (2): 154 > 153, so it opens segment two; 153 + 153 fit exactly.
    assert sms_length("a" * 152 + "€" + "a" * 151).segments == 2
    assert sms_length("a" * 152 + "€" + "a" * 152).segments == 3


def test_sequence_steps_are_pinned_to_template_versions_of_their_channel() -> None:
    catalog = TemplateCatalog({
        ("hello", 1): Template(key="hello", version=1, channel=Channel.email, subject="s",
                               html="<p>x</p>"),
        ("hello", 2): Template(key="hello", version=2, channel=Channel.email, subject="s",
                               html="<p>y</p>"),
        ("text", 1): Template(key="text", version=1, channel=Channel.sms, text="hi"),
    })
    steps = [SendEmailStep(template="hello"), WaitStep(days=1),
             SendStep(channel=Channel.sms, template="text"),
             SendEmailStep(template="hello", template_version=1)]
    pinned, problems = pin_templates(steps, catalog)
    assert problems == []
    assert [getattr(s, "template_version", None) for s in pinned] == [2, None, 1, 1]
    _, problems = pin_templates([SendStep(channel=Channel.sms, template="hello"),
                                 SendEmailStep(template="nope"),
                                 SendEmailStep(template="hello", template_version=9)], catalog)
    assert [(p.field, p.reason) for p in problems] == [
        ("steps.0.template", "template 'hello' is for email, the step sends sms"),
        ("steps.1.template", "no template 'nope'"),
        ("steps.2.template", "template 'hello' has no version 9")]
