"""The services' pages and emails come from Jinja2 templates (leadloop.templates): what a lead,
a campaign or a market is called reaches the HTML escaped, never as markup."""

from datetime import date

from leadloop.templates import Markup
from nurture.sending import mail
from nurture.tracking.api import _page
from outcomes.dashboard import render as dashboard_render
from outcomes.dashboard.render import Bar, bar_chart
from outcomes.digest import render as digest_render
from tests.unit.test_outcomes_digest import _digest

HOSTILE = '<script>alert("x")</script>'


def test_a_chart_label_is_escaped_and_charts_nest_as_markup() -> None:
    chart = bar_chart("c", [Bar(HOSTILE, [3], ["3"])], ["leads"])
    assert isinstance(chart, Markup)
    assert "<script" not in chart and "&lt;script&gt;" in chart
    page = dashboard_render.dashboard_page([("Card", f"note {HOSTILE}", chart)], HOSTILE,
                                           None, None, date(2026, 1, 1), {})
    assert "<script" not in page
    assert page.count('<svg class="chart" data-chart="c"') == 1  # nested once, not escaped


def test_the_dashboard_stylesheet_is_the_one_its_policy_pins() -> None:
    page = dashboard_render.login_page("wrong <key>")
    assert f"<style>{dashboard_render.CSS}</style>" in page
    assert "'unsafe-inline'" not in dashboard_render.PAGE_HEADERS["Content-Security-Policy"]
    assert "wrong &lt;key&gt;" in page


def test_a_digest_market_named_like_markup_is_escaped() -> None:
    digest = _digest()
    row = digest.by_market[0].model_copy(update={"key": HOSTILE})
    digest = digest.model_copy(update={"by_market": [row, *digest.by_market[1:]]})
    html = digest_render.render_html(digest, 'http://outcomes/dashboard?a=1&b="2"')
    assert "<script" not in html
    assert 'data-country="&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"' in html
    assert 'href="http://outcomes/dashboard?a=1&amp;b=&#34;2&#34;"' in html


def test_nurture_pages_escape_the_token_and_the_footer_the_unsubscribe_url() -> None:
    page = _page("Unsubscribe", "", template="unsubscribe.html", token=HOSTILE).body.decode()
    assert "<script" not in page and "action='/u/&lt;script&gt;" in page
    html = mail._with_footer("<html><body><p>hi</p></body></html>", "https://n/u/a&b", None)
    assert html.endswith('<a href="https://n/u/a&amp;b">Unsubscribe</a> with one click.</p>\n'
                         "</body></html>")
