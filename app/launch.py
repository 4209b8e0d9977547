"""`vcn serve` in a child process on a free loopback port, for benchmarks and end-to-end tests.

Not used by the service itself: it is how other programs (bench/http_bench.py, tests/e2e) get a real server
to talk to over HTTP, started the way a user starts it, and stopped again whatever happens.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_ready(url: str) -> bool:
    """Whether a server at url answers /readyz with 200 (False while it starts, or when nothing listens)."""
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


@contextmanager
def serve_in_subprocess(weights: str | Path, env: Mapping[str, str] | None = None, ready_s: float = 180.0,
                        log: IO[str] | None = None, device: str = "cpu", repo: str | Path = REPO) -> Iterator[str]:
    """Start `vcn serve --weights W` on a free loopback port with extra environment, in the checkout `repo`
    (whose code it runs, ahead of an installed copy); yield its base URL once /readyz answers 200. Output
    goes to `log` (discarded if None). Raises RuntimeError if the server
    exits first (with the log's text when it can be read back), TimeoutError after ready_s seconds."""
    port = free_port()
    cmd = [sys.executable, "-m", "model.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--weights", str(weights), "--device", device]
    out = log if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=repo, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_s
        while not is_ready(url):
            if proc.poll() is not None:
                text = ""
                if log is not None and log.seekable():
                    log.flush()
                    log.seek(0)
                    text = ":\n" + log.read()
                raise RuntimeError(f"vcn serve exited with {proc.returncode}{text}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"vcn serve not ready after {ready_s} s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
