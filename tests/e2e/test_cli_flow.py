"""The CLI as an operator wires it by hand: publish, a bounded projector, the API, the DLQ.

Valid lines go in through `custstats publish`, which refuses the poison lines of
the same file; a misbehaving upstream producer then writes poison records to the
topic directly, and the projector must dead-letter exactly those, with a reason.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from custstats.servers import free_port
from tests.messy import POISON_RECIPES, messy_events, poison_lines
from tests.support.reference_api import REFERENCE_QUERIES, reference_page
from tests.support.servers import EnvFactory, TopicFactory

pytestmark = pytest.mark.e2e

CUSTSTATS = str(Path(sys.executable).with_name("custstats"))
ENDPOINT = "/business/{}/plugin/CustomerManage/getStatisticsList"


def post(base: str, tenant: int, params: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        base + ENDPOINT.format(tenant),
        data=orjson.dumps(params),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = orjson.loads(response.read())
    return answer


def wait_ready(base: str, api: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert api.poll() is None, "the API exited"
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    pytest.fail(f"{base}/readyz not 200 within {timeout} s")


def dead_letters(bootstrap: str, topic: str, expected: int) -> list[Any]:
    """Every record of the one-partition DLQ, read until `expected` arrived and 1 s of quiet."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        records: list[Any] = []
        deadline = time.monotonic() + 30
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=300)
            for messages in batch.values():
                records += messages
            if len(records) < expected or batch:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 1:
                break
        return records
    finally:
        consumer.close()


def test_publish_project_serve_and_dead_letter_with_separate_commands(
    tmp_path: Path, settings_env: EnvFactory, make_topic: TopicFactory, kafka_bootstrap: str
) -> None:
    topic = make_topic(4)
    env = settings_env(topic)
    events = messy_events(seed=57, n=1500)
    in_file = [line for line in poison_lines(seed=57, n=20) if line.strip() and b"\n" not in line]
    lines = [orjson.dumps(event) for event in events]
    for number, line in enumerate(in_file):
        lines.insert(number * 70 + 5, line)
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")

    published = subprocess.run(
        [CUSTSTATS, "publish", str(source)], env=env, capture_output=True, timeout=60
    )
    report = published.stderr.decode()
    assert published.returncode == 1, report  # some lines were refused
    assert f"published {len(events)} events" in report
    assert f"rejected {len(in_file)} lines" in report

    # An upstream service without our validation writes poison straight to the topic.
    poison = poison_lines(seed=58, n=2 * len(POISON_RECIPES))
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for record in poison:
        producer.send(topic, value=record)
    producer.flush()
    producer.close()

    logs = tmp_path / "processes.log"
    port = free_port()
    with logs.open("wb") as sink:
        api = subprocess.Popen(
            [CUSTSTATS, "api", "--port", str(port)], env=env, stdout=sink, stderr=sink
        )
        projector = subprocess.Popen(
            [CUSTSTATS, "projector", "--idle-exit", "5"], env=env, stdout=sink, stderr=sink
        )
    try:
        assert projector.wait(timeout=60) == 0, logs.read_text()
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, api)
        for params in REFERENCE_QUERIES:
            for tenant in (1, 2, 3):
                answer = post(base, tenant, params)
                rows, total = reference_page(events, tenant, params)
                assert (answer["data"]["data"], answer["data"]["total"]) == (rows, total)
        assert post(base, 25, {}) == {"errcode": 500, "errmsg": "invalid appid"}
        api.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught, as servers should
        assert api.wait(timeout=20) in (0, -signal.SIGTERM)
        assert "Finished server process" in logs.read_text()
    finally:
        for process in (api, projector):
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()

    letters = dead_letters(kafka_bootstrap, f"{topic}.dlq", len(poison))
    assert Counter(record.value for record in letters) == Counter(poison)
    for record in letters:
        headers = dict(record.headers)
        assert headers["reason"].strip(), record
        assert headers["source-topic"] == topic.encode()
