"""The local broker needs Java 17+: the version is read from `java -version`."""

import pytest

from leadloop_devstack import kafka
from leadloop_devstack.kafka import check_java, java_major_version


@pytest.mark.parametrize(("output", "major"), [
    ('openjdk version "17.0.9" 2023-10-17\nOpenJDK Runtime Environment', 17),
    ('java version "21.0.1" 2023-10-17 LTS', 21),
    ('openjdk version "25" 2025-09-16', 25),
    ('openjdk version "1.8.0_392"\nOpenJDK Runtime Environment (build 1.8.0_392-b08)', 8),
    ('java version "1.7.0_80"', 7),
    ("bash: java: command not found", None),
])
def test_the_major_version_is_read_from_java_version(output: str, major: int | None) -> None:
    assert java_major_version(output) == major


def test_an_old_java_is_refused_naming_the_version_found(
        monkeypatch: pytest.MonkeyPatch) -> None:
    class Old:
        stdout, stderr = "", 'openjdk version "11.0.21" 2023-10-17\nOpenJDK Runtime Environment'

    monkeypatch.setattr(kafka.subprocess, "run", lambda *a, **k: Old())
    with pytest.raises(RuntimeError, match=r'Java 17\+ is needed .* Java 11 \(openjdk version '
                                           r'"11.0.21"'):
        check_java()

