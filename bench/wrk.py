"""wrk as the load generator: a separate C process, so the client costs little of the 2 cores."""

import asyncio
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "leads.lua"


class WrkMissing(RuntimeError):
    """wrk is not installed."""


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured."""

    requests: int  # responses received
    status_errors: int  # of those, not 2xx/3xx
    socket_errors: int  # connect/read/write errors and timeouts (no response)
    seconds: float
    latency_p50_ms: float
    latency_p99_ms: float

    @property
    def ok(self) -> int:
        """Requests answered 2xx/3xx."""
        return self.requests - self.status_errors

    @property
    def rate(self) -> float:
        """Successful requests per second."""
        return self.ok / self.seconds


def require_wrk() -> str:
    """The wrk executable, or WrkMissing with how to install it."""
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing("wrk is not installed (Debian/Ubuntu: apt-get install -y wrk)")
    return path


async def run_wrk(url: str, seconds: float, *, connections: int = 32, threads: int = 1,
                  api_key: str = "", tag: str | None = None) -> WrkResult:
    """POST unique leads to `url` for `seconds` over `connections` keep-alive connections."""
    tag = tag or uuid.uuid4().hex[:10]
    process = await asyncio.create_subprocess_exec(
        require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "10s", "-s", str(SCRIPT), url, "--", tag, api_key,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    line = next((ln for ln in text.splitlines() if ln.startswith("WRK_JSON ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{text}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    socket_errors = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors",
                                         "timeouts"))
    return WrkResult(requests=raw["requests"], status_errors=raw["status_errors"],
                     socket_errors=socket_errors, seconds=raw["duration_us"] / 1e6,
                     latency_p50_ms=raw["latency_p50_us"] / 1000,
                     latency_p99_ms=raw["latency_p99_us"] / 1000)
