"""Stopping the stack's child processes: gently first, by force if they hang."""

import signal
import subprocess


def terminate(process: "subprocess.Popen[bytes] | None", timeout_s: float) -> None:
    """SIGTERM and wait up to `timeout_s`; SIGKILL if it has not exited by then."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        kill(process)


def kill(process: "subprocess.Popen[bytes] | None") -> None:
    """SIGKILL: the process dies mid-work, as in a crash."""
    if process is not None and process.poll() is None:
        process.kill()
        process.wait()
