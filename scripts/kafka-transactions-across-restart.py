#!/usr/bin/env python3
"""Does the test broker keep what it acknowledged, and open transactions, across a restart?

Apache Kafka keeps transaction state in its `__transaction_state` log, so a transaction open
while the broker restarts can still be committed (or is aborted when its transactional id is
opened again) and read_committed readers move on. This script checks the broker that
`scripts/services.sh start kafka` starts, with librdkafka alone (no strom): it opens a
transaction, writes 10 records, restarts the broker, writes 10 more and commits; then a new
producer with the same transactional id commits 10 more. A broker that keeps transactions shows
all 30 records to a read_committed reader.

noida-db 0.2.3 shows 0: the committed transaction that spanned the restart never becomes
visible, and neither does anything committed after it (the partition's last stable offset stays
behind it). It also checks plain writes: records produced while the broker restarts must all be
in the topic once acknowledged. noida-db 0.2.3 loses some (2,000 of 186,200 in one run). That is
why the broker-restart test (crates/strom/tests/connectors_kafka_faults.rs) checks exactly-once
in PostgreSQL and only the correctness of what reaches the Kafka topics.

Usage (needs confluent-kafka, e.g. in a venv: `pip install confluent-kafka`):
    python3 scripts/kafka-transactions-across-restart.py
Exit code 0 when the broker keeps both across a restart, 1 when it does not.
"""

import os
import subprocess
import sys
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

SERVICES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "services.sh")
TOPIC = "across-restart"


def start_broker():
    done = subprocess.run(
        [SERVICES, "start", "kafka"], check=True, capture_output=True, text=True
    )
    bootstrap = done.stdout.strip().splitlines()[-1].split("=", 1)[1]
    folder = [l for l in done.stderr.splitlines() if "kafka in " in l][-1].split("kafka in ")[1]
    return bootstrap, folder.split()[0]


def count(bootstrap, isolation, topic=TOPIC):
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"check-{isolation}-{time.time()}",
            "isolation.level": isolation,
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    seen, quiet = 0, 0
    while quiet < 3:
        message = consumer.poll(1)
        if message is None:
            quiet += 1
        elif not message.error():
            seen, quiet = seen + 1, 0
    consumer.close()
    return seen


def acknowledged_writes_survive(bootstrap, folder):
    """Produces for 6 s while the broker restarts; returns (acknowledged, in the topic)."""
    topic = "acknowledged"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
    acknowledged = [0]

    def delivered(err, _message):
        if err is None:
            acknowledged[0] += 1

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    restart = threading.Thread(
        target=lambda: (time.sleep(1), subprocess.run([SERVICES, "restart", folder], capture_output=True))
    )
    restart.start()
    started, sent = time.time(), 0
    while time.time() - started < 6:
        try:
            producer.produce(topic, b"x" * 50, callback=delivered)
            sent += 1
        except BufferError:
            producer.poll(0.01)
        if sent % 100 == 0:
            producer.poll(0)
            time.sleep(0.002)
    restart.join()
    producer.flush(60)
    return acknowledged[0], count(bootstrap, "read_uncommitted", topic)


def main():
    bootstrap, folder = start_broker()
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(TOPIC, 1, 1)])[TOPIC].result()
        producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": "check"})
        producer.init_transactions(10)
        producer.begin_transaction()
        for i in range(10):
            producer.produce(TOPIC, f"before-{i}".encode())
        producer.flush(10)
        subprocess.run([SERVICES, "restart", folder], check=True, capture_output=True)
        for i in range(10):
            producer.produce(TOPIC, f"after-{i}".encode())
        producer.flush(20)
        producer.commit_transaction(20)
        again = Producer({"bootstrap.servers": bootstrap, "transactional.id": "check"})
        again.init_transactions(20)
        again.begin_transaction()
        for i in range(10):
            again.produce(TOPIC, f"next-{i}".encode())
        again.commit_transaction(10)
        committed = count(bootstrap, "read_committed")
        written = count(bootstrap, "read_uncommitted")
        print(f"records written: {written}, seen by read_committed readers: {committed} of 30")
        kept = committed == 30
        print("the broker keeps transactions across a restart" if kept
              else "the broker loses a transaction open across its restart")
        acknowledged, present = acknowledged_writes_survive(bootstrap, folder)
        print(f"records acknowledged during a restart: {acknowledged}, in the topic: {present}")
        durable = present >= acknowledged
        print("the broker keeps what it acknowledged" if durable
              else "the broker loses records it acknowledged")
        return 0 if kept and durable else 1
    finally:
        subprocess.run([SERVICES, "stop", folder], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
