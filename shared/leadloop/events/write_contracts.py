"""`python -m leadloop.events.write_contracts DIR`: write every event's JSON Schema, every
service's AsyncAPI document and every service's OpenAPI document under DIR
(contracts/events/*.json, contracts/asyncapi/*.json, contracts/openapi/*.json).

The files in the repository are the published contracts: the test suite fails when the code's
schemas break one of them without a new event version.
"""

import importlib
import sys
from pathlib import Path

import orjson

from leadloop.events.contracts import all_asyncapi_documents, all_event_schemas
from leadloop.events.topology import CONSUMES
from leadloop.http_contracts import openapi_documents

_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE


def handled_event_types() -> dict[str, list[str]]:
    """The event types each installed consuming service's handlers take (`<service>.handlers`
    holds its registry, HANDLERS)."""
    handled = {}
    for service, producers in CONSUMES.items():
        if producers:
            try:
                module = importlib.import_module(f"{service}.handlers")
            except ImportError:
                continue  # that service is not installed here
            handled[service] = module.HANDLERS.event_types
    return handled


def write_contracts(root: Path) -> list[Path]:
    """Write the contracts under `root`; returns the files written."""
    written = []
    for folder, documents in (("events", all_event_schemas()),
                              ("asyncapi", all_asyncapi_documents(handled_event_types())),
                              ("openapi", openapi_documents())):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name, document in documents.items():
            path = root / folder / f"{name}.json"
            path.write_bytes(orjson.dumps(document, option=_OPTIONS))
            written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_contracts(Path(sys.argv[1] if len(sys.argv) > 1 else "contracts")):
        print(written_path)
