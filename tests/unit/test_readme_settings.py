"""The README documents every setting, so it cannot drift from the settings classes."""

import re

import pytest

from leadloop.events.topology import SERVICES
from leadloop_devstack.config import StackSettings
from tests.unit.deploy_support import REPO, env_prefix, settings_class

README = (REPO / "README.md").read_text()


def _documented(name: str, prefix: str) -> bool:
    """`NAME` on its own (a table row, "adds `NAME`"), or with its full prefix."""
    return (re.search(rf"(?<![A-Z0-9_]){name}(?![A-Z0-9_])", README) is not None
            or f"{prefix}{name}" in README)


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_setting_is_in_the_readme(service: str) -> None:
    prefix = env_prefix(service)
    missing = [f"{prefix}{name.upper()}" for name in settings_class(service).model_fields
               if not _documented(name.upper(), prefix)]
    assert not missing, f"README.md does not mention {missing}"


def test_every_local_stack_setting_is_in_the_readme() -> None:
    prefix = str(StackSettings.model_config["env_prefix"])
    missing = [f"{prefix}{name.upper()}" for name in StackSettings.model_fields
               if not _documented(name.upper(), prefix)]
    assert not missing, f"README.md does not mention {missing}"
