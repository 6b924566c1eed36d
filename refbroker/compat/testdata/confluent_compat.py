"""Drives confluent-kafka-python (librdkafka) for refbroker's compatibility
matrix (librdkafka_test.go). Usage: python3 confluent_compat.py SCENARIO,
with a JSON object of arguments on stdin; prints one JSON object on stdout.
Errors go to stderr with exit status 1. Every loop ends at args["deadline"]
(seconds), so a broker that never answers fails the test instead of
hanging it."""

import json
import sys
import time

from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic


def rec(m):
    return {"partition": m.partition(), "offset": m.offset(),
            "value": m.value().decode(),
            "headers": {k: v.decode() for k, v in (m.headers() or [])}}


def base(a):
    """The connection settings of every client: the bootstrap address and
    the optional "security" object (security.protocol, sasl.*, ssl.*)."""
    return {"bootstrap.servers": a["bootstrap"], **a.get("security", {})}


def consumer(a, **extra):
    conf = {**base(a), "group.id": a.get("group") or "compat-assign",
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "enable.partition.eof": True, "client.id": a.get("client_id", "compat")}
    conf.update(extra)
    return Consumer(conf)


def poll_to_eof(a, c, partitions, limit=0):
    """Polls c until every partition in `partitions` reported end of
    partition (or limit records), and returns the records."""
    out, eof, end = [], set(), time.time() + a["deadline"]
    while time.time() < end:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                if eof >= set(partitions):
                    return out
                continue
            raise KafkaException(m.error())
        out.append(rec(m))
        if limit and len(out) >= limit:
            return out
    raise SystemExit("deadline: %d records, end of partition seen for %s" % (len(out), sorted(eof)))


def produce(a):
    p = Producer({**base(a), "acks": "all", "enable.idempotence": True,
                  "compression.codec": a["codec"], "linger.ms": 20})
    errors = []
    for r in a["records"]:
        p.produce(a["topic"], value=r["value"], partition=0,
                  headers=sorted(r["headers"].items()),
                  on_delivery=lambda err, _m: err and errors.append(str(err)))
    left = p.flush(a["deadline"])
    if left or errors:
        raise SystemExit("%d unacknowledged, errors %s" % (left, errors))
    return {}


def consume(a):
    c = consumer(a)
    c.assign([TopicPartition(a["topic"], 0, a.get("offset", -2))])  # -2: beginning
    try:
        return {"records": poll_to_eof(a, c, [0])}
    finally:
        c.close()


def reset(a):
    # The group's committed offset is beyond the end: the fetch answers
    # OFFSET_OUT_OF_RANGE and auto.offset.reset=earliest must apply.
    c = consumer(a)
    c.subscribe([a["topic"]])
    try:
        return {"records": poll_to_eof(a, c, [0])}
    finally:
        c.close()


def resume(a):
    c = consumer(a, **{"client.id": "compat-1"})
    c.subscribe([a["topic"]])
    first = poll_to_eof(a, c, [0], a["n"])
    c.commit(offsets=[TopicPartition(a["topic"], 0, first[-1]["offset"] + 1)], asynchronous=False)
    c.close()
    c = consumer(a, **{"client.id": "compat-2"})
    c.subscribe([a["topic"]])
    try:
        return {"first": first, "rest": poll_to_eof(a, c, [0])}
    finally:
        c.close()


def rebalance(a):
    assigned = {"a": set(), "b": set()}

    def member(name, cid):
        c = consumer(a, **{"client.id": cid, "partition.assignment.strategy": "range"})

        def on_assign(_c, ps):
            assigned[name] = {p.partition for p in ps}

        def on_revoke(_c, ps):
            assigned[name] -= {p.partition for p in ps}
        c.subscribe([a["topic"]], on_assign=on_assign, on_revoke=on_revoke)
        return c

    got, end = [], time.time() + a["deadline"]
    ca = member("a", a["member_a"])
    total = a["partitions"] * a["per_partition"]
    while len(got) < total and time.time() < end:
        m = ca.poll(0.1)
        if m is not None and not m.error():
            got.append(rec(m))
    cb = member("b", a["member_b"])
    while time.time() < end:
        for c in (ca, cb):
            m = c.poll(0.1)
            if m is not None and not m.error():
                got.append(rec(m))
        if assigned["a"] and assigned["b"] and len(assigned["a"]) + len(assigned["b"]) == a["partitions"]:
            break
    else:
        raise SystemExit("deadline: assignments %s" % assigned)
    result = {"a": sorted(assigned["a"]), "b": sorted(assigned["b"]), "records": got}
    ca.close()  # revokes, so the result is taken first
    cb.close()
    return result


def admin(a):
    adm = AdminClient(base(a))
    for f in adm.create_topics([NewTopic(a["admin_topic"], 3, 1)]).values():
        f.result(a["deadline"])
    md = adm.list_topics(a["admin_topic"], timeout=a["deadline"])
    parts = len(md.topics[a["admin_topic"]].partitions)
    groups = adm.list_groups(timeout=a["deadline"])
    described = adm.list_groups(a["group"], timeout=a["deadline"])  # DescribeGroups
    c = consumer(a)
    ts = c.offsets_for_times([TopicPartition(a["ts_topic"], 0, a["timestamp"])], timeout=a["deadline"])
    c.close()
    for f in adm.delete_topics([a["admin_topic"]]).values():
        f.result(a["deadline"])
    return {"created_partitions": parts, "groups": [g.id for g in groups],
            "group_state": described[0].state if described else "", "time_offset": ts[0].offset}


if __name__ == "__main__":
    scenario = {"produce": produce, "consume": consume, "reset": reset, "resume": resume,
                "rebalance": rebalance, "admin": admin}[sys.argv[1]]
    print(json.dumps(scenario(json.load(sys.stdin))))
