"""A throwaway ``redis-server`` on a unix socket, for the fleet tests and the fleet benchmark.

It runs the real server (Debian's ``redis-server`` package) with nothing written to disk,
in a private temporary folder that goes when it stops.  Not part of the public API.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Final, Self

_START_TIMEOUT: Final = 10.0


def find_redis_server() -> str | None:
    """Return the path of ``redis-server``, or None when it is not installed."""
    return shutil.which("redis-server")


class RedisServer:
    """Runs ``redis-server`` on a unix socket until :meth:`stop` (or the ``with`` block ends).

    No persistence (no RDB, no AOF), no TCP port: only this machine's user reaches it.
    """

    def __init__(self) -> None:
        found = find_redis_server()
        if found is None:
            raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
        self._executable = found
        self._folder: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        """The unix socket the server listens on."""
        if self._folder is None:
            raise RuntimeError("the Redis server is not running")
        return self._folder / "redis.sock"

    @property
    def url(self) -> str:
        """The URL that redis-py (and ``RedisRateLimit``) connects with."""
        return f"unix://{self.socket_path}"

    def start(self) -> Self:
        """Start the server and wait until it answers PING."""
        # A short folder name: a unix socket path must fit in about 100 bytes.
        self._folder = Path(tempfile.mkdtemp(prefix="mv-redis-", dir="/tmp"))
        args = [
            self._executable,
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._folder),
            "--logfile", str(self._folder / "redis.log"),
        ]  # fmt: skip
        self._process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while not self.ping():
            if self._process.poll() is not None or time.monotonic() > deadline:
                log = self._folder / "redis.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                self.stop()
                raise RuntimeError(f"redis-server did not start:\n{tail}")
            time.sleep(0.01)
        return self

    def ping(self) -> bool:
        """Return whether the server answers PING on its socket now."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(1.0)
                conn.connect(str(self.socket_path))
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server (if running) and remove its folder."""
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        folder, self._folder = self._folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
