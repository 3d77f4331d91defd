"""`python -m leadloop_devstack run`: start the local stack, print its URLs, stop on Ctrl-C."""

import argparse
import asyncio
import logging
import signal
import sys
import time

from leadloop_devstack.keys import KEY_VARIABLE
from leadloop_devstack.stack import Stack


async def _run() -> int:
    # aiokafka logs each refused connection while the broker boots; the stack reports progress.
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    started = time.monotonic()
    stack = Stack()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"Starting LeadLoop (state in {stack.settings.home}) ...", flush=True)
    try:
        starting = asyncio.create_task(stack.start())
        waiting = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            return 130
        starting.result()
        print(f"\nLeadLoop is up in {time.monotonic() - started:.1f}s:")
        for name, service in stack.services.items():
            print(f"  {name:<9} {service.url}   (docs: {service.url}/docs)")
        print(f"  kafka     {stack.bootstrap_servers}")
        if stack.postgres is not None:
            print(f"  postgres  postgresql://postgres@{stack.settings.host}:"
                  f"{stack.settings.postgres_port}/<service>")
        print(f"  smtp      {stack.settings.host}:{stack.smtp.port}   (a sink: mail sent to it is "
              f"kept in {stack.smtp.maildir}, one .eml file per message)")
        print(f"\n  {KEY_VARIABLE}={stack.admin_key}")
        print(f"  (also in {stack.settings.home / 'dev-keys.env'})")
        print(f"  logs in {stack.settings.home / 'logs'}\n\nPress Ctrl-C to stop.", flush=True)
        await stop.wait()
        return 0
    except Exception as exc:  # say what failed, then clean up
        print(f"\nLeadLoop failed to start: {exc}", file=sys.stderr)
        return 1
    finally:
        print("\nStopping LeadLoop ...", flush=True)
        await stack.stop()
        print("Stopped.", flush=True)


def main() -> None:
    """Entry point of `leadloop-stack` and `python -m leadloop_devstack`."""
    parser = argparse.ArgumentParser(prog="leadloop-stack")
    parser.add_argument("command", choices=["run"], help="run: start everything until Ctrl-C")
    parser.parse_args()
    sys.exit(asyncio.run(_run()))
