"""CPU seconds of the stack's processes, read with psutil, so a run can be charged per lead."""

from dataclasses import dataclass, field

import psutil

from leadloop_devstack.stack import Stack


def _process_seconds(process: psutil.Process) -> float:
    """User + system CPU of a process, its live children, and its reaped children."""
    times = process.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in process.children(recursive=True):
        try:
            child_times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += child_times.user + child_times.system
    return total


@dataclass
class CpuMeter:
    """Tracks the services (by name) and the infrastructure (PostgreSQL, Kafka)."""

    services: dict[str, psutil.Process] = field(default_factory=dict)
    infrastructure: dict[str, psutil.Process] = field(default_factory=dict)
    _last: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, stack: Stack) -> "CpuMeter":
        """Every process `stack` started."""
        meter = cls()
        for name, service in stack.services.items():
            if service.process is not None:
                meter.services[name] = psutil.Process(service.process.pid)
        if stack.kafka is not None and getattr(stack.kafka, "process", None) is not None:
            meter.infrastructure["kafka"] = psutil.Process(stack.kafka.process.pid)
        if stack.postgres is not None:
            pid_file = stack.postgres.data / "postmaster.pid"
            if pid_file.exists():
                meter.infrastructure["postgres"] = psutil.Process(
                    int(pid_file.read_text().split()[0]))
        return meter

    def add(self, name: str, pid: int) -> None:
        """Track another process (e.g. the bare app) as if it were a service."""
        self.services[name] = psutil.Process(pid)

    def snapshot(self) -> dict[str, float]:
        """CPU seconds so far per process; a process that exited keeps its last reading."""
        for name, process in {**self.services, **self.infrastructure}.items():
            try:
                self._last[name] = _process_seconds(process)
            except psutil.NoSuchProcess:
                pass
        return dict(self._last)


@dataclass(frozen=True)
class CpuUsage:
    """CPU seconds spent between two snapshots."""

    by_process: dict[str, float]
    services: tuple[str, ...]

    @classmethod
    def between(cls, meter: CpuMeter, before: dict[str, float],
                after: dict[str, float], services: tuple[str, ...] | None = None) -> "CpuUsage":
        """The difference; `services` limits which processes count as services."""
        names = services if services is not None else tuple(meter.services)
        spent = {name: round(after[name] - before.get(name, 0.0), 3) for name in after}
        return cls(by_process=spent, services=tuple(n for n in names if n in spent))

    @property
    def service_seconds(self) -> float:
        """Seconds used by the LeadLoop service processes."""
        return sum(self.by_process[name] for name in self.services)

    @property
    def infrastructure_seconds(self) -> float:
        """Seconds used by PostgreSQL and Kafka."""
        return sum(v for k, v in self.by_process.items() if k in ("postgres", "kafka"))

    def per_lead(self, leads: int) -> dict[str, float | None]:
        """Service and infrastructure CPU seconds per lead."""
        if leads <= 0:
            return {"services": None, "infrastructure": None}
        return {"services": self.service_seconds / leads,
                "infrastructure": self.infrastructure_seconds / leads}
