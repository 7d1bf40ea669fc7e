"""Real servers as subprocesses: start one, wait until it answers, stop it.

Shared by the suites that run a provider's own server (llama-cpp-python's, vLLM's)
on a loopback port.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import pytest


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(
    command: Sequence[str],
    ready_url: str,
    *,
    what: str,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
) -> Iterator[None]:
    """Run ``command`` until the block ends; enter once ``ready_url`` answers 200.

    A server that exits or does not answer within ``timeout`` seconds fails the test
    with the end of its output.
    """
    process = subprocess.Popen(
        list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                pytest.fail(f"{what} did not start:\n" + output[-4000:])
            time.sleep(0.25)
        yield
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        if process.stdout:
            process.stdout.close()
