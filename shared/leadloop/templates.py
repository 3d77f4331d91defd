"""Server-rendered HTML, pages and emails alike: the one Jinja2 setup every service uses.

A service keeps its templates in the `templates/` folder of its package, shipped as package
data, so an installed wheel renders the same as a checkout. Autoescaping is on for every
`.html` template: a value reaches the markup escaped unless it is `Markup` (a fragment one of
our own templates rendered) or a template marks it `|safe` (our own stylesheet). `.txt`
templates (plain-text email) are not escaped. Templates are compiled once per process and
cached by Jinja2, so rendering costs microseconds.
"""

from collections.abc import Callable, Mapping
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, Template, select_autoescape
from markupsafe import Markup

__all__ = ["Markup", "Templates"]


class Templates:
    """The templates of one package: `render` a template, read a static file beside them."""

    def __init__(self, package: str, *,
                 filters: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.package = package
        self.environment = Environment(
            loader=PackageLoader(package, "templates"),
            # Package data does not change while the process runs: no stat per render.
            auto_reload=False,
            autoescape=select_autoescape(disabled_extensions=("txt",), default=True,
                                         default_for_string=True))
        self.environment.filters.update(filters or {})

    def template(self, name: str) -> Template:
        """A compiled template, for a caller that renders it very often (an email footer)."""
        return self.environment.get_template(name)

    def render(self, template: str, /, **context: Any) -> str:
        """The template named `template` rendered with `context`."""
        return self.environment.get_template(template).render(**context)

    def fragment(self, template: str, /, **context: Any) -> Markup:
        """A rendered piece of HTML that another template includes as it is (not escaped
        again): a chart, a table."""
        return Markup(self.render(template, **context))

    def static(self, name: str) -> str:
        """A file of the templates folder as text (a stylesheet a page inlines and its
        Content-Security-Policy pins by hash)."""
        return (files(self.package) / "templates" / name).read_text()
