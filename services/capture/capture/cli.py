"""`leadloop import FILE.csv`: stream a CSV to capture and show the import's progress."""

import argparse
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from leadloop.cli import Command
from leadloop.cli import main as leadloop_main

BAR_WIDTH = 30


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            yield block


def _count_rows(path: Path) -> int:
    with path.open("rb") as file:
        return max(0, sum(1 for _ in file) - 1)


def _bar(done: int, total: int) -> str:
    share = done / total if total else 1.0
    filled = int(share * BAR_WIDTH)
    return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} rows"


def import_file(path: Path, url: str, key: str, mapping: str | None, campaign: str | None,
                poll_s: float = 0.5, charset: str | None = None) -> int:
    """Upload, then follow the import to its end; exit code 0 when every row was applied."""
    total = _count_rows(path)
    params = {k: v for k, v in (("mapping", mapping), ("campaign", campaign)) if v}
    headers = {"X-API-Key": key,
               "Content-Type": f"text/csv; charset={charset}" if charset else "text/csv"}
    with httpx.Client(timeout=300) as http:
        started = http.post(f"{url}/v1/imports", params=params, headers=headers,
                            content=_chunks(path))
        if started.status_code != 202:
            print(f"import refused ({started.status_code}): {started.text}", file=sys.stderr)
            return 2
        status_url = f"{url}/v1/imports/{started.json()['import_id']}"
        while True:
            report = http.get(status_url, headers=headers).json()
            print(f"\r{_bar(report['rows_total'], total)}", end="", file=sys.stderr)
            if report["status"] != "running":
                break
            time.sleep(poll_s)
    print(file=sys.stderr)
    print(f"{report['status']}: {report['created']} created, {report['updated']} updated, "
          f"{report['unchanged']} unchanged, {report['failed']} failed")
    for error in report["errors"][:20]:
        print(f"  row {error['row']}: {error['field']}: {error['reason']}")
    return 0 if report["status"] == "completed" and report["failed"] == 0 else 1


def _add_arguments(imp: argparse.ArgumentParser) -> None:
    imp.add_argument("file", type=Path)
    imp.add_argument("--url", default=os.environ.get("LEADLOOP_CAPTURE_URL",
                                                     "http://127.0.0.1:8001"),
                     help="capture's base URL (or LEADLOOP_CAPTURE_URL)")
    imp.add_argument("--key", default=os.environ.get("LEADLOOP_API_KEY")
                     or os.environ.get("LEADLOOP_DEV_ADMIN_KEY"),
                     help="API key with leads:write and leads:read (or LEADLOOP_API_KEY)")
    imp.add_argument("--mapping", help='JSON: {"CSV column": "lead field"}')
    imp.add_argument("--campaign")
    imp.add_argument("--charset", help="the file's charset when not UTF-8, e.g. windows-1252 "
                     "(Excel's plain 'CSV')")


def _run(args: argparse.Namespace) -> int:
    if not args.key:
        print("leadloop import: error: an API key is needed: --key or LEADLOOP_API_KEY",
              file=sys.stderr)
        return 2
    return import_file(args.file, args.url.rstrip("/"), args.key, args.mapping, args.campaign,
                       charset=args.charset)


# `leadloop import`, registered in pyproject.toml's leadloop.commands entry points.
IMPORT_COMMAND = Command(help="import leads from a CSV file", add_arguments=_add_arguments,
                         run=_run)


def main(argv: list[str] | None = None) -> int:
    """`leadloop import ...` with only this service's command (tests call it in-process)."""
    return leadloop_main(argv, {"import": IMPORT_COMMAND})


if __name__ == "__main__":
    sys.exit(main())
