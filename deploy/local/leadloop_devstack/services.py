"""The five services as separate uvicorn processes, and their Alembic migrations."""

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from leadloop_devstack.config import REPO_ROOT
from leadloop_devstack.processes import kill, terminate


def service_env_prefix(service: str) -> str:
    """The env prefix of a service's settings."""
    return f"LEADLOOP_{service.upper()}_"


async def run_migrations(service: str, env: dict[str, str]) -> None:
    """Bring `service`'s database to the newest Alembic revision."""
    ini = REPO_ROOT / "services" / service / "alembic.ini"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "head",
        env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"migrations of {service} failed:\n{output.decode()}")


class ServiceProcess:
    """One service running under uvicorn, its output appended to a log file."""

    def __init__(self, name: str, host: str, port: int, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the service's HTTP API."""
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        """The uvicorn command line. X-Forwarded-For is believed only from the proxies named in
        FORWARDED_ALLOW_IPS: uvicorn's own default trusts loopback, and anyone on this machine
        could then choose the client address that per-IP limits count. No `server` header: it
        tells a scanner which server and version to try its exploits on, and no client needs it."""
        environment = {**os.environ, **self.env}
        proxies = ["--proxy-headers", "--forwarded-allow-ips",
                   environment["FORWARDED_ALLOW_IPS"]] \
            if environment.get("FORWARDED_ALLOW_IPS") else ["--no-proxy-headers"]
        return [sys.executable, "-m", "uvicorn", f"{self.name}.main:app", "--host", self.host,
                "--port", str(self.port), *proxies, "--no-access-log", "--no-server-header",
                "--timeout-graceful-shutdown", "10"]

    def start(self) -> None:
        """Start the process (it becomes ready later; see `wait_ready`)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env},
                start_new_session=True,  # Ctrl-C reaches the stack, which stops us in order
            )

    async def wait_ready(self, timeout_s: float = 120) -> None:
        """Poll /readyz until it answers 200. Generous: two stacks booting at once on two cores
        (the test suite's and its real-time tests') have taken 54 s; a process that exits
        fails at once, so the wait only matters when it would otherwise fail."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}; "
                                       f"see {self.log}")
                try:
                    # strict: the stack is up only when Kafka and the consumer are, too
                    if (await client.get(f"{self.url}/readyz?strict=true")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.name} not ready after {timeout_s}s; see {self.log}")
                await asyncio.sleep(0.1)

    def stop(self, timeout_s: float = 15) -> None:
        """SIGTERM (uvicorn drains and runs the lifespan shutdown), SIGKILL if it hangs."""
        terminate(self.process, timeout_s)

    def kill(self) -> None:
        """SIGKILL: the process dies mid-work, as in a crash."""
        kill(self.process)
