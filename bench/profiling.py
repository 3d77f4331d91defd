"""`python -m bench.run --profile`: py-spy samples every running service while each benchmark
runs, and writes collapsed stacks plus a short text summary per service to bench/results/.

Profiling slows the services down: figures from a profiled run are not the benchmark's.
"""

import asyncio
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path

RATE_HZ = 100
TOP = 30


def py_spy() -> str:
    """The py-spy executable (pip install py-spy), next to this Python or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is not installed: pip install py-spy")
    return found


class Profiler:
    """py-spy record on each given process until `stop`."""

    def __init__(self, outdir: Path, label: str, pids: dict[str, int]) -> None:
        self.outdir = outdir
        self.label = label
        self.pids = pids
        self._running: dict[str, asyncio.subprocess.Process] = {}

    def _raw(self, name: str) -> Path:
        return self.outdir / f"profile-{self.label}-{name}.txt"

    async def start(self) -> None:
        """Begin sampling the thread holding the GIL (Python's CPU work, including C code it
        calls; waiting is not sampled), without pausing the services to read them."""
        self.outdir.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            self._running[name] = await asyncio.create_subprocess_exec(
                py_spy(), "record", "--pid", str(pid), "--rate", str(RATE_HZ), "--nonblocking",
                "--gil", "--format", "raw", "--output", str(self._raw(name)),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)

    async def stop(self) -> list[Path]:
        """Stop sampling, write each service's summary; the summaries' paths."""
        for process in self._running.values():
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
        await asyncio.gather(*(p.wait() for p in self._running.values()))
        written = []
        for name in self._running:
            raw = self._raw(name)
            if raw.exists():
                summary = raw.with_name(raw.name.replace("profile-", "summary-"))
                summary.write_text(summarize(raw.read_text(), f"{self.label} {name}"))
                written.append(summary)
        return written


def summarize(collapsed: str, title: str) -> str:
    """Where the samples are: top frames by own time and by inclusive time."""
    total = 0
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    if not total:
        return f"{title}: no samples\n"
    lines = [f"{title}: {total} samples at {RATE_HZ} Hz", "", "own time:"]
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in own.most_common(TOP)]
    lines += ["", "inclusive time:"]
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(TOP * 3)]
    return "\n".join(lines) + "\n"
