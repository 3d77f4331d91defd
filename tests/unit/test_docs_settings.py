"""The settings reference is generated from the settings classes (docs/hooks/reference.py), so it
cannot drift from them; and every setting is explained, by the comment on its field or in the
settings guide."""

import importlib.util
import re
from types import ModuleType

import pytest

from leadloop.events.topology import SERVICES
from leadloop.settings import ServiceSettings
from leadloop_devstack.config import StackSettings
from tests.support.deploy import REPO, env_prefix, settings_class

GUIDE = (REPO / "docs" / "guides" / "ops" / "settings.md").read_text()


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_reference",
                                                  REPO / "docs" / "hooks" / "reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REFERENCE = _hook()
GENERATED = REFERENCE.settings_reference()


def _rows(cls: type, prefix: str) -> dict[str, list[str]]:
    """The generated rows of `cls`'s table: variable -> [type, default, meaning]."""
    table = REFERENCE.settings_table(cls, prefix)
    return {m[1]: [c.strip() for c in m[2].split(" | ")]
            for m in re.finditer(r"^\| `([A-Z0-9_<>]+)` \| (.*) \|$", table, re.M)}


def _explained(name: str, prefix: str, meaning: str) -> bool:
    """A comment or description on the field, or the guide names it (alone or prefixed)."""
    return bool(meaning) or re.search(rf"(?<![A-Z0-9_]){name}(?![A-Z0-9_])", GUIDE) is not None \
        or f"{prefix}{name}" in GUIDE


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_setting_is_in_the_reference_with_its_default(service: str) -> None:
    cls, prefix = settings_class(service), env_prefix(service)
    rows = _rows(cls, prefix)
    assert set(rows) == {prefix + name.upper() for name in cls.model_fields}
    port = rows[f"{prefix}PORT"]
    assert port[1] == f"`{cls.model_fields['port'].default}`"
    # the service's own section of the generated page lists what it sets differently (its port)
    section = GENERATED.split(f"\n## {service}\n", 1)[1].split("\n## ", 1)[0]
    assert f"`{prefix}PORT`" in section


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_setting_is_explained(service: str) -> None:
    cls, prefix = settings_class(service), env_prefix(service)
    missing = [v for v, (_, _, meaning) in _rows(cls, prefix).items()
               if not _explained(v.removeprefix(prefix), prefix, meaning)]
    assert not missing, f"explain these in a comment on the field or in the guide: {missing}"


def test_every_local_stack_setting_is_in_the_reference_and_explained() -> None:
    prefix = str(StackSettings.model_config["env_prefix"])
    rows = _rows(StackSettings, prefix)
    assert set(rows) == {prefix + name.upper() for name in StackSettings.model_fields}
    assert rows[f"{prefix}HOME"][1] == "`.leadloop`", "a repository path, not this machine's"
    missing = [v for v, (_, _, meaning) in rows.items()
               if not _explained(v.removeprefix(prefix), prefix, meaning)]
    assert not missing, missing


def test_a_field_comment_becomes_its_meaning() -> None:
    rows = _rows(ServiceSettings, "LEADLOOP_X_")
    assert "rotated without downtime" in rows["LEADLOOP_X_API_KEYS"][2]
    assert rows["LEADLOOP_X_CONSUMER_FETCH_MAX_WAIT_MS"][2] == "(with the setting above)"
