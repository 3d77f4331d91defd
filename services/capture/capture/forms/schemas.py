"""HTTP models of forms (a form is created and replaced with capture.forms.definition's
FormConfigIn)."""

from pydantic import ConfigDict

from capture.forms.definition import FormConfigIn


class FormOut(FormConfigIn):
    """A stored form; `public_key` appears only when it is created or rotated."""

    model_config = ConfigDict(extra="ignore")

    id: str
    public_key: str | None = None
