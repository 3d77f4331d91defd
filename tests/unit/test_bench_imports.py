"""Every benchmark module imports: a service module that moved fails here, in `make test`,
rather than in the next `make bench`."""

import importlib
import pkgutil

import pytest

import bench


@pytest.mark.parametrize("name", sorted(m.name for m in pkgutil.iter_modules(bench.__path__)))
def test_benchmark_module_imports(name: str) -> None:
    assert importlib.import_module(f"bench.{name}").__name__ == f"bench.{name}"
