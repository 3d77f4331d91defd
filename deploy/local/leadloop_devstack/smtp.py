"""A local SMTP sink (aiosmtpd): a real SMTP server that keeps every message as a .eml file.

Nurture sends to it as to any mail server; `<home>/mail/` shows what was sent, one file per
message, and tests read it from there. Recipients at `bounce.invalid` are refused with 550, so
bounces can be tried too. Run on its own: `python -m leadloop_devstack.smtp --port 1025
--maildir .leadloop/mail`.
"""

import argparse
import asyncio
import email
import email.policy
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from leadloop_devstack.processes import terminate

BOUNCE_DOMAIN = "bounce.invalid"


class MaildirHandler:
    """aiosmtpd handler: refuse bounce addresses, write each accepted message atomically."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        """Accept every recipient except those at the bounce domain."""
        if address.lower().endswith("@" + BOUNCE_DOMAIN):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message as <ns>-<random>.eml; readers never see a half-written file."""
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode()
        tmp = self.maildir / f".{name}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, self.maildir / name)
        return "250 Message accepted for delivery"


async def _serve(host: str, port: int, maildir: Path, ident: str) -> None:
    from aiosmtpd.smtp import SMTP

    handler = MaildirHandler(maildir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        # SMTPUTF8 as real servers offer it: mail to internationalized addresses arrives.
        lambda: SMTP(handler, hostname="leadloop-sink", ident=ident,
                     data_size_limit=10 * 1024 * 1024, enable_SMTPUTF8=True),
        host=host, port=port)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"SMTP sink on {host}:{port}, writing to {maildir}", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


def read_mail(maildir: Path) -> list[EmailMessage]:
    """Every message the sink received, oldest first."""
    if not maildir.is_dir():
        return []
    messages = []
    for path in sorted(maildir.glob("*.eml")):
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        messages.append(parsed)
    return messages


def port_or_free(host: str, port: int) -> int:
    """`port` if nothing listens on it (0 or taken: a free one), so parallel stacks coexist."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            s.bind((host, 0))
        return int(s.getsockname()[1])


class SmtpSink:
    """The sink as a separate process, like the other components."""

    def __init__(self, home: Path, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.maildir = home / "mail"
        self.log = home / "logs" / "smtp.log"
        self.process: subprocess.Popen[bytes] | None = None
        # Named in the greeting: readiness must be our sink's, not another stack's that won
        # the race for the same port (ours then exits, and mail would go to the other one).
        self.ident = f"LeadLoop sink {uuid.uuid4().hex[:12]}"

    def start(self) -> None:
        """Start the server on `port` (or a free port when that one is taken)."""
        self.port = port_or_free(self.host, self.port)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "leadloop_devstack.smtp", "--host", self.host,
                 "--port", str(self.port), "--maildir", str(self.maildir),
                 "--ident", self.ident],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    async def wait_ready(self, timeout_s: float = 20) -> None:
        """Wait for our sink's 220 greeting."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"SMTP sink exited; see {self.log}")
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
                greeting = await asyncio.wait_for(reader.readline(), 2)
                writer.close()
                if greeting.startswith(b"220") and self.ident.encode() in greeting:
                    return
            except (OSError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"SMTP sink not ready after {timeout_s}s; see {self.log}")
            await asyncio.sleep(0.1)

    def stop(self, timeout_s: float = 10) -> None:
        """SIGTERM, SIGKILL if it hangs."""
        terminate(self.process, timeout_s)


def main() -> None:
    """`python -m leadloop_devstack.smtp`."""
    parser = argparse.ArgumentParser(prog="leadloop_devstack.smtp")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--maildir", type=Path, required=True)
    parser.add_argument("--ident", default="LeadLoop sink", help="named in the 220 greeting")
    args = parser.parse_args()
    args.maildir.mkdir(parents=True, exist_ok=True)
    asyncio.run(_serve(args.host, args.port, args.maildir, args.ident))


if __name__ == "__main__":
    main()
