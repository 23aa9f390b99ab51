"""A real `casewise serve` process on a free port, for tests that need real HTTP and real commits."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx

from app.auth.keys import create_key
from app.auth.roles import Role
from app.db.session import session_factory

CASEWISE = Path(sys.executable).with_name("casewise")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(database_url: str, *, workers: int = 1, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run the service against `database_url` until the block ends; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [str(CASEWISE), "serve", "--port", str(port), "--workers", str(workers)],
        env={**os.environ, "CASEWISE_DATABASE_URL": database_url, **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {process.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


def committed_key(engine, role: Role = Role.ADMIN) -> dict[str, str]:
    """Headers with a key committed to the database behind `engine`."""
    with session_factory(engine)() as session:
        _, key = create_key(session=session, name=f"live-{role.value}", role=role)
        session.commit()
    return {"Authorization": f"Bearer {key}"}
