"""Every exception nurture raises of its own. Routers turn them into 4xx answers naming the
field and the reason."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nurture.content.templates import Problem


class TemplateInvalid(ValueError):
    """A template that cannot be saved; `problems` name each field, line and reason."""

    def __init__(self, problems: list["Problem"]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message()}" for p in problems))
        self.problems = problems
