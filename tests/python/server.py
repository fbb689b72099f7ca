"""Shared by the Python checks: run the real binary on a free loopback port with a temp
database, wait for /health, and stop it again."""

import contextlib
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import httpx2

KEY = "python-check-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(binary: str) -> Iterator[str]:
    """Yields the server's base URL once /health answers; stops the server afterwards."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "WEBHOOK_MCP_API_KEY": KEY, "RUST_LOG": "warn"}
        server = subprocess.Popen(
            [binary, "--listen", f"127.0.0.1:{port}", "--database", os.path.join(tmp, "check.db")],
            env=env, stdin=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    if httpx2.get(f"{base}/health").status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                if server.poll() is not None:
                    raise SystemExit(f"the server exited with {server.returncode}")
                time.sleep(0.1)
            else:
                raise SystemExit("the server did not start")
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)
