#!/usr/bin/env python3
"""Chaos run of mgitd, driven by scripts/chaos (which starts the broker nodes, the git server
and toxiproxy, and stops everything afterwards). See docs/reliability.md.

Three mgitd replicas in one consumer group share one workspace. Jobs are produced at a steady
rate while commits are pushed to the repositories and faults are injected on a schedule:
SIGKILL of a random replica (five times), SIGTERM of one, a broker restart, a results topic
that rejects writes with NOT_ENOUGH_REPLICAS for ~20 s, and toxics on the git remotes of some
repositories (latency, a 1 KB/s trickle, a stall, connection resets). A final round of one sync
per repository runs without faults. Then every assertion is checked and the figures printed.

Progress goes to stderr, the figures table (markdown) to stdout. Exit status 1 names each failed
assertion.
"""

import argparse
import calendar
import dataclasses
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   NewTopic)

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
PROBE_HEADER = "chaos-probe"


def log(*parts):
    print(f"chaos [{time.strftime('%H:%M:%S')}]:", *parts, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- processes ------------------------------------------------------------------------------

def stat_fields(pid):
    """/proc/PID/stat from the state on (state, ppid, ...), or None once PID is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields start after the last ')'.
    return stat[stat.rindex(b")") + 2:].split()


def process_tree(root):
    """Pids of ROOT and all its descendants (from /proc), ROOT first."""
    children = {}
    for entry in os.listdir("/proc"):
        fields = stat_fields(entry) if entry.isdigit() else None
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def rss_bytes(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * PAGE_SIZE
        except (OSError, IndexError, ValueError):
            pass
    return total


def alive(pid):
    fields = stat_fields(pid)
    return fields is not None and fields[0] != b"Z"


@dataclasses.dataclass
class Replica:
    index: int
    proc: subprocess.Popen = None
    signalled: bool = False  # an exit we caused, not a crash
    terminating: bool = False  # SIGTERMed and not yet restarted: not for SIGKILL
    max_rss: int = 0
    http_port: int = 0


class Replicas:
    """Starts, signals and samples the replicas; records what happened for the checks."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.replicas = [Replica(i) for i in range(args.replicas)]
        self.sigterm_exits = []  # (replica, seconds, exit status)
        self.crashes = []  # (replica, exit status)
        self.orphans = []  # (replica, pids)
        os.makedirs(os.path.join(args.run_dir, "replicas"), exist_ok=True)

    def log_path(self, replica):
        return os.path.join(self.args.run_dir, f"replica-{replica.index}.log")

    def start(self, replica):
        a = self.args
        replica.http_port = free_port()
        command = [
            a.mgitd, "--brokers", a.brokers, "--group-id", a.group,
            "--jobs-topic", a.jobs_topic, "--results-topic", a.results_topic,
            "--dlq-topic", a.dlq_topic, "--audit-topic", a.audit_topic,
            "--workspace", a.workspace,
            "--credentials-dir", a.credentials_dir,
            "--http-listen", f"127.0.0.1:{replica.http_port}",
            "--group-instance-id", f"chaos-{replica.index}",
            "--workers", str(a.workers), "--min-free-disk-percent", "0",
            "--shutdown-grace-seconds", str(a.shutdown_grace),
            # The git server and its proxies are on loopback (denied unless opened), over https
            # with the test CA: mgitd never sends a credential over plain http.
            "--git-ca-file", a.git_ca_file, "--network-allow", "127.0.0.1/32",
        ]
        with open(self.log_path(replica), "ab") as out:
            # A session of its own: a ^C on the terminal reaches the driver, which stops the
            # replicas in order, not the replicas themselves.
            replica.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        replica.signalled = False
        with open(os.path.join(a.run_dir, "replicas", f"{replica.index}.pid"), "w") as f:
            f.write(f"{replica.proc.pid}\n")

    def wait_live(self, replica, timeout=30):
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{replica.http_port}/health/live"
        while time.monotonic() < deadline and replica.proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=2) as reply:
                    if reply.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.2)
        return False

    def sample(self):
        """Samples each replica's process-tree RSS; notices replicas that died on their own."""
        with self.lock:
            for r in self.replicas:
                if r.proc is None:
                    continue
                code = r.proc.poll()
                if code is not None:
                    if not r.signalled:
                        self.crashes.append((r.index, code))
                        log(f"replica {r.index} exited by itself (status {code}); restarting it")
                        self.start(r)
                    continue
                r.max_rss = max(r.max_rss, rss_bytes(process_tree(r.proc.pid)))

    def partitions_owned(self, replica):
        """Partitions the replica's current process owns, from its log: cooperative
        assignment logs each increment ("partitions assigned") and each revocation."""
        owned = 0
        with open(self.log_path(replica), "rb") as f:
            for line in f:
                if b'"msg":"mgitd starting"' in line:
                    owned = 0
                elif b'"msg":"partitions assigned"' in line or b'"msg":"partitions revoked"' in line:
                    entry = json.loads(line)
                    owned += entry["count"] if entry["msg"] == "partitions assigned" else -entry["count"]
        return owned

    def wait_balanced(self, partitions, timeout=60):
        """Until every replica owns some of the partitions and together they own all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            owned = [self.partitions_owned(r) for r in self.replicas]
            if min(owned) > 0 and sum(owned) == partitions:
                return owned
            time.sleep(0.5)
        raise RuntimeError(f"the group did not settle in {timeout} s: partitions owned {owned}")

    def sigkill(self, r):
        """SIGKILL, check that the process tree went with it, restart."""
        with self.lock:
            tree = process_tree(r.proc.pid)
            r.signalled = True
            os.kill(r.proc.pid, signal.SIGKILL)
            r.proc.wait()
        # The daemon's children (worker processes) must not outlive it.
        deadline = time.monotonic() + 10
        left = [p for p in tree[1:] if alive(p)]
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = [p for p in left if alive(p)]
        if left:
            self.orphans.append((r.index, left))
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        time.sleep(self.args.restart_delay)
        with self.lock:
            self.start(r)
        self.wait_live(r)

    def sigterm(self, r):
        """SIGTERM and the time until exit, in seconds."""
        limit = self.args.shutdown_grace + self.args.sigterm_slack
        with self.lock:
            r.signalled = r.terminating = True
            started = time.monotonic()
            os.kill(r.proc.pid, signal.SIGTERM)
        try:
            code = r.proc.wait(timeout=limit + 60)
        except subprocess.TimeoutExpired:
            os.kill(r.proc.pid, signal.SIGKILL)
            code = r.proc.wait()
        seconds = time.monotonic() - started
        self.sigterm_exits.append((r.index, seconds, code))
        return seconds

    def stop_all(self):
        threads = [threading.Thread(target=self.sigterm, args=(r,)) for r in self.replicas
                   if r.proc is not None and r.proc.poll() is None]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def kill_all(self):
        for r in self.replicas:
            if r.proc is not None and r.proc.poll() is None:
                r.signalled = True
                r.proc.kill()
                r.proc.wait()


# ---- toxiproxy ------------------------------------------------------------------------------

class Toxiproxy:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            text = reply.read()
        return json.loads(text) if text else None

    def proxy(self, name, upstream):
        made = self.call("POST", "/proxies",
                         {"name": name, "listen": "127.0.0.1:0", "upstream": upstream})
        return int(made["listen"].rsplit(":", 1)[1])

    def add(self, proxy, name, kind, attributes, toxicity=1.0, stream="downstream"):
        self.call("POST", f"/proxies/{proxy}/toxics",
                  {"name": name, "type": kind, "stream": stream, "toxicity": toxicity,
                   "attributes": attributes})

    def remove(self, proxy, name):
        self.call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def clear(self):
        for name, proxy in self.call("GET", "/proxies").items():
            for toxic in proxy["toxics"]:
                self.remove(name, toxic["name"])


# ---- Kafka ----------------------------------------------------------------------------------

def kafka_conf(args, **settings):
    """Client settings; librdkafka's own log lines (a broker restart makes many) go to
    RUN_DIR/driver-kafka.log, not to the terminal."""
    logger = logging.getLogger("librdkafka")
    if not logger.handlers:
        handler = logging.FileHandler(os.path.join(args.run_dir, "driver-kafka.log"))
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return {"bootstrap.servers": args.brokers, "logger": logger, **settings}


class Collector(threading.Thread):
    """Reads the results and DLQ topics from the beginning for the whole run."""

    def __init__(self, args, partitions):
        super().__init__(daemon=True)
        self.args = args
        self.lock = threading.Lock()
        self.results = []  # dicts: job_id, ts (ms), value, partition, offset
        self.dlq = []  # (value bytes, headers dict)
        self.unreadable = []
        self.stop = threading.Event()
        self.consumer = Consumer(kafka_conf(
            args, **{"group.id": f"{args.group}-collector", "enable.auto.commit": False,
                     "enable.partition.eof": False}))
        self.consumer.assign(
            [TopicPartition(args.results_topic, p, -2) for p in range(partitions)] +
            [TopicPartition(args.dlq_topic, p, -2) for p in range(partitions)])

    def run(self):
        while not self.stop.is_set():
            for m in self.consumer.consume(500, 0.2):
                if m.error():
                    continue
                headers = {k: v for k, v in (m.headers() or [])}
                if m.topic() == self.args.dlq_topic:
                    with self.lock:
                        self.dlq.append((m.value(), headers))
                    continue
                if PROBE_HEADER in headers:
                    continue
                try:
                    value = json.loads(m.value())
                    record = {"job_id": value["job_id"], "ts": m.timestamp()[1], "value": value,
                              "partition": m.partition(), "offset": m.offset()}
                except (ValueError, KeyError, TypeError):
                    with self.lock:
                        self.unreadable.append(m.value())
                    continue
                with self.lock:
                    self.results.append(record)
        self.consumer.close()

    def snapshot(self):
        with self.lock:
            return list(self.results), list(self.dlq)


class Jobs:
    """Produces jobs and remembers where each one landed."""

    def __init__(self, args, repos):
        self.args = args
        self.repos = repos  # name -> {"url", "key", "kind"}
        self.producer = Producer(kafka_conf(args, **{"acks": "all", "enable.idempotence": True,
                                                      "linger.ms": 5}))
        self.lock = threading.Lock()
        self.jobs = {}  # job_id -> {"repo", "timeout", "kind": valid|invalid|garbage, "round"}
        self.placed = {}  # job_id -> (partition, offset)
        self.by_value = {}  # value bytes -> job id (DLQ records carry the original value)
        self.errors = []
        self.seq = 0

    def _delivered(self, job_id):
        def callback(err, msg):
            with self.lock:
                if err is not None:
                    self.errors.append(f"{job_id}: {err}")
                else:
                    self.placed[job_id] = (msg.partition(), msg.offset())
        return callback

    def produce(self, repo, kind="valid", round_name="faults"):
        a = self.args
        with self.lock:
            self.seq += 1
            job_id = f"{a.run_id}-{round_name}-{self.seq:06d}"
        info = self.repos[repo]
        options = {"timeout_seconds": a.timeout_seconds}
        if kind == "invalid":
            options["depth"] = 1  # rejected: shallow fetches are not supported
        job = {"schema": "mgit.sync-job/v1", "job_id": job_id, "correlation_id": job_id,
               "operation": "sync",
               "repository": {"url": info["url"], "credential": "gitserver"},
               "ref": "main", "target": f"chaos/{repo}", "options": options,
               "requested_by": "chaos"}
        value = json.dumps(job).encode() if kind != "garbage" else f"not a job {job_id}".encode()
        with self.lock:
            self.jobs[job_id] = {"repo": repo, "timeout": a.timeout_seconds, "kind": kind,
                                 "round": round_name}
            self.by_value[value] = job_id
        while True:
            try:
                self.producer.produce(a.jobs_topic, value, key=info["key"].encode(),
                                      on_delivery=self._delivered(job_id))
                break
            except BufferError:
                self.producer.poll(0.1)
        self.producer.poll(0)
        return job_id

    def flush(self, timeout):
        left = self.producer.flush(timeout)
        return left == 0


def admin_client(args):
    return AdminClient(kafka_conf(args))


def set_min_isr(admin, topic, value):
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("min.insync.replicas", str(value),
                    incremental_operation=AlterConfigOpType.SET)])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result()


def create_topics(args, node2_id):
    """The jobs and DLQ topics on node 1 only (node 2 is stopped once they exist); the results
    topic with a replica on each node, so that its ISR (node 1 alone) can fall short of
    min.insync.replicas."""
    admin = admin_client(args)
    layout = {args.jobs_topic: [1], args.dlq_topic: [1], args.audit_topic: [1],
              args.results_topic: [1, node2_id]}
    futures = admin.create_topics([
        NewTopic(topic, num_partitions=args.partitions, replication_factor=-1,
                 replica_assignment=[replicas] * args.partitions,
                 config={"min.insync.replicas": "1"}) for topic, replicas in layout.items()])
    for future in futures.values():
        future.result()
    deadline = time.monotonic() + 30
    while True:
        topics = admin.list_topics(timeout=10).topics
        if all(t in topics and len(topics[t].partitions) == args.partitions and
               all(p.leader == 1 for p in topics[t].partitions.values()) for t in layout):
            return
        if time.monotonic() > deadline:
            raise RuntimeError("the topics have no leaders after 30 s")
        time.sleep(0.2)


def committed_and_end(args):
    """The group's committed offset and the end offset of each jobs partition. A partition
    that never had a record has no commit; it counts as committed at 0."""
    consumer = Consumer(kafka_conf(args, **{"group.id": args.group,
                                            "enable.auto.commit": False}))
    try:
        consumer.list_topics(args.jobs_topic, timeout=15)  # get_watermark_offsets needs it
        partitions = [TopicPartition(args.jobs_topic, p) for p in range(args.partitions)]
        committed = {tp.partition: max(tp.offset, 0)
                     for tp in consumer.committed(partitions, timeout=15)}
        end = {p: consumer.get_watermark_offsets(TopicPartition(args.jobs_topic, p),
                                                 timeout=15)[1] for p in range(args.partitions)}
    finally:
        consumer.close()
    return committed, end


# ---- the run --------------------------------------------------------------------------------

class Run:
    def __init__(self, args):
        self.args = args
        # One generator per thread that draws, so a seed gives the same choices each run.
        self.rng_jobs = random.Random(f"{args.seed}-jobs")
        self.rng_pushes = random.Random(f"{args.seed}-pushes")
        self.rng_faults = random.Random(f"{args.seed}-faults")
        self.failures = []
        self.checks = []  # (name, passed, detail)
        self.events = []  # (kind, wall time s, detail)
        self.notes = {}
        self.stop = threading.Event()  # ends the background threads
        self.stop_pushing = threading.Event()
        self.sigterm_thread = None
        self.toxi = Toxiproxy(args.toxiproxy)
        self.replicas = Replicas(args)
        self.repos = {}
        self.pushes = 0

    # -- setup --

    def setup_repos(self):
        a = self.args
        git_port = int(a.git_url.rsplit(":", 1)[1])
        per_kind = max(2, a.repos // 20)
        kinds = ["latency", "trickle", "stall", "reset"]
        proxied = {}
        ports = [git_port]
        for k, kind in enumerate(kinds):
            # toxiproxy forwards TCP: TLS runs end to end between mgitd and the git server,
            # whose certificate names 127.0.0.1 whatever port the proxy listens on.
            port = self.toxi.proxy(f"git-{kind}", f"127.0.0.1:{git_port}")
            ports.append(port)
            for j in range(per_kind):
                proxied[a.repos - 1 - (k * per_kind + j)] = (kind, port)
        for i in range(a.repos):
            name = f"r{i:03d}"
            kind, port = proxied.get(i, ("direct", git_port))
            self.repos[name] = {"url": f"https://127.0.0.1:{port}/chaos/{name}.git",
                                "key": f"https://127.0.0.1:{port}/chaos/{name}", "kind": kind}
        self.write_credential(ports)
        counts = {}
        for info in self.repos.values():
            counts[info["kind"]] = counts.get(info["kind"], 0) + 1
        log("repositories by remote:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))

    def write_credential(self, ports):
        """The git server's credential, bound to its https port and the proxies in front of it
        (the ports are known once toxiproxy has made the proxies)."""
        a = self.args
        with open(os.path.join(a.git_dir, "password")) as f:
            password = f.read().strip()
        hosts = ",".join(f"127.0.0.1:{port}" for port in ports)
        os.makedirs(a.credentials_dir, exist_ok=True)
        fd = os.open(os.path.join(a.credentials_dir, "gitserver"),
                     os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"username=mgit\npassword={password}\nhosts={hosts}\n")

    def server_head(self, repo):
        return subprocess.run(
            ["git", "-C", os.path.join(self.args.git_dir, "repos", "chaos", f"{repo}.git"),
             "rev-parse", "refs/heads/main"], check=True, capture_output=True,
            text=True).stdout.strip()

    # -- background work --

    def pusher(self):
        """New commits on random repositories while jobs run."""
        names = sorted(self.repos)
        while not self.stop_pushing.wait(self.args.push_interval):
            repo = self.rng_pushes.choice(names)
            subprocess.run([os.path.join(self.args.repo_root, "scripts", "git-server"),
                            "add-commits", self.args.git_dir, f"chaos/{repo}",
                            str(self.rng_pushes.randint(1, 3))],
                           check=True, stdout=subprocess.DEVNULL)
            self.pushes += 1

    def sampler(self):
        while not self.stop.wait(0.5):
            self.replicas.sample()

    def producer(self, jobs, count, duration):
        names = sorted(self.repos)
        start = time.monotonic()
        # Every 100th message is not a job at all (DLQ), every 100th from the 50th an invalid
        # job (rejected): the contract's two other answers.
        for i in range(count):
            delay = start + i * duration / count - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            kind = "garbage" if i % 100 == 99 else "invalid" if i % 100 == 49 else "valid"
            jobs.produce(self.rng_jobs.choice(names), kind)
        jobs.flush(300)

    # -- faults --

    def event(self, kind, detail=""):
        self.events.append((kind, time.time(), detail))
        log(f"fault: {kind} {detail}".rstrip())

    def window(self, at, seconds, on, off):
        def run():
            if self.stop.wait(max(0.0, at - (time.monotonic() - self.t0))):
                return
            began = time.monotonic()
            on()
            self.stop.wait(max(0.0, seconds - (time.monotonic() - began)))
            off()
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def toxic_window(self, at, seconds, kind, toxic, attributes, toxicity=1.0,
                     stream="downstream"):
        proxy = f"git-{kind}"

        def on():
            self.toxi.add(proxy, kind, toxic, attributes, toxicity, stream)
            self.event(f"toxic {toxic} on", f"{proxy} {stream} {attributes} "
                                            f"toxicity {toxicity} for {seconds:.0f} s")

        def off():
            self.toxi.remove(proxy, kind)
            self.event(f"toxic {toxic} off", proxy)
        return self.window(at, seconds, on, off)

    def results_outage(self, at, seconds):
        a = self.args
        admin = admin_client(a)
        outcome = {}
        probe = Producer(kafka_conf(a, **{"acks": "all", "enable.idempotence": True,
                                          "message.timeout.ms": 300000}))

        def on():
            set_min_isr(admin, a.results_topic, 2)
            self.event("results outage", f"min.insync.replicas=2 on {a.results_topic} "
                                         f"(ISR 1) for {seconds:.0f} s")
            time.sleep(1)
            # A producer that does not retry shows the broker's error; an idempotent one (as
            # mgitd's) must keep retrying it and get through once the outage is over.
            errors = []
            plain = Producer(kafka_conf(a, **{"acks": "all", "retries": 0,
                                              "message.timeout.ms": 10000}))
            plain.produce(a.results_topic, b"{}", key=b"chaos-probe", partition=0,
                          headers={PROBE_HEADER: b"1"},
                          on_delivery=lambda err, msg: errors.append(err))
            plain.flush(15)
            outcome["error"] = errors[0].name() if errors and errors[0] else "none"
            probe.produce(a.results_topic, b"{}", key=b"chaos-probe", partition=0,
                          headers={PROBE_HEADER: b"1"},
                          on_delivery=lambda err, msg: outcome.__setitem__(
                              "retried", "delivered" if err is None else err.name()))
            probe.poll(0)

        def off():
            set_min_isr(admin, a.results_topic, 1)
            self.event("results outage over", "min.insync.replicas=1")
            probe.flush(60)
        self.outage = outcome
        return self.window(at, seconds, on, off)

    def broker_restart(self):
        kafka = os.path.join(self.args.repo_root, "scripts", "kafka")
        started = time.monotonic()
        self.event("broker restart", "scripts/kafka stop + start, same data and port")
        subprocess.run([kafka, "stop", self.args.kafka_dir], check=True)
        time.sleep(self.args.broker_down)
        subprocess.run([kafka, "start", self.args.kafka_dir], check=True, stdout=subprocess.DEVNULL)
        self.notes["broker_restart_s"] = time.monotonic() - started
        log(f"broker back after {self.notes['broker_restart_s']:.1f} s")

    def stalled_replica(self, stall_repos):
        """A replica running a job on a stalled remote (from the logs: started, not finished),
        with the job's id; (None, None) if there is none."""
        targets = {f"chaos/{r}".encode() for r in stall_repos}
        for r in self.replicas.replicas:
            running = {}
            with open(self.replicas.log_path(r), "rb") as f:
                for line in f:
                    if b'"msg":"mgitd starting"' in line:
                        running.clear()
                    elif b'"msg":"job started"' in line or b'"msg":"job attempt finished"' in line:
                        entry = json.loads(line)
                        if entry.get("target", "").encode() not in targets:
                            continue
                        if entry["msg"] == "job started":
                            running[entry["job_id"]] = entry["ts"]
                        else:
                            running.pop(entry["job_id"], None)
            if running:
                return r, min(running, key=running.get)
        return None, None

    def sigterm_one(self, stall_repos):
        """SIGTERM in a thread of its own (the replica may take the whole grace period to
        exit); SIGKILLs meanwhile spare it."""
        deadline = time.monotonic() + 10
        r, job_id = self.stalled_replica(stall_repos)
        while r is None and time.monotonic() < deadline:
            time.sleep(0.5)
            r, job_id = self.stalled_replica(stall_repos)
        why = f"it runs {job_id}, which hangs on a stalled remote"
        if r is None:
            r, why = self.rng_faults.choice(self.replicas.replicas), "random: no job hangs"
        self.event("SIGTERM", f"replica {r.index} ({why})")

        def run():
            seconds = self.replicas.sigterm(r)
            log(f"replica {r.index} exited {seconds:.1f} s after SIGTERM; restarting it")
            with self.replicas.lock:
                self.replicas.start(r)
                r.terminating = False
            self.replicas.wait_live(r)
        self.sigterm_thread = threading.Thread(target=run, daemon=True)
        self.sigterm_thread.start()

    def sigkill_one(self):
        with self.replicas.lock:
            r = self.rng_faults.choice([r for r in self.replicas.replicas if not r.terminating])
        self.event("SIGKILL", f"replica {r.index}")
        self.replicas.sigkill(r)
        log(f"replica {r.index} restarted")

    # -- waiting --

    def wait_answers(self, jobs, job_ids, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            missing = self.unanswered(jobs, job_ids)
            if not missing:
                return []
            if time.monotonic() > deadline:
                log(f"{what}: {len(missing)} jobs without an answer after {timeout} s")
                return missing
            time.sleep(1)

    @staticmethod
    def dlq_answer(jobs, value, headers):
        """The job a DLQ record answers under the contract: a message that is not a job, or a
        job that was running at three unclean exits of a replica (poison); else None."""
        job_id = jobs.by_value.get(value)
        if job_id is None:
            return None
        if jobs.jobs[job_id]["kind"] == "garbage" or headers.get("mgit-error-code") == b"poison":
            return job_id
        return None

    def unanswered(self, jobs, job_ids):
        results, dlq = self.collector.snapshot()
        answered = {r["job_id"] for r in results}
        answered |= {self.dlq_answer(jobs, v, h) for v, h in dlq}
        return [j for j in job_ids if j not in answered]

    # -- main --

    def execute(self):
        a = self.args
        create_topics(a, a.node2_id)
        subprocess.run([os.path.join(a.repo_root, "scripts", "kafka"), "stop", a.kafka2_dir],
                       check=True)
        log(f"topics created ({a.partitions} partitions; {a.results_topic} on nodes 1 and "
            f"{a.node2_id}); node {a.node2_id} stopped, so the results topic's ISR is 1")
        self.setup_repos()
        self.collector = Collector(a, a.partitions)
        self.collector.start()
        jobs = Jobs(a, self.repos)

        for r in self.replicas.replicas:
            self.replicas.start(r)
        for r in self.replicas.replicas:
            if not self.replicas.wait_live(r, 60):
                raise RuntimeError(f"replica {r.index} did not come up: see {self.replicas.log_path(r)}")
        owned = self.replicas.wait_balanced(a.partitions)
        log(f"{a.replicas} replicas live, owning {owned} of the {a.partitions} partitions")
        threading.Thread(target=self.sampler, daemon=True).start()

        # Fault schedule over the production window D (fractions of D); see docs/reliability.md.
        D = a.duration
        if 0.02 * D + a.timeout_seconds + 15 > 0.5 * D:
            raise SystemExit(f"--duration {D:.0f} is too short for the first stall "
                             f"(timeout_seconds + 15 s) to end before the first SIGKILL")
        stall_repos = [n for n, i in self.repos.items() if i["kind"] == "stall"]
        self.t0 = time.monotonic()
        pusher = threading.Thread(target=self.pusher, daemon=True)
        pusher.start()
        producing = threading.Thread(target=self.producer, args=(jobs, a.jobs, D), daemon=True)
        producing.start()
        self.toxi.add("git-latency", "latency", "latency", {"latency": 300, "jitter": 100})
        self.event("toxic latency on", "git-latency 300±100 ms for the fault phase")
        # First half: faults outside the replicas. The stall outlasts the jobs' deadline, and no
        # replica is killed meanwhile, so the stalled executions show whether deadlines hold.
        # A stall drops the requests (upstream) and keeps the connections open: the server
        # never answers, and closes them only after its 60 s read timeout.
        T = a.timeout_seconds
        stall = {"timeout": 0}
        windows = [
            self.toxic_window(0.02 * D, T + 15, "stall", "timeout", stall, stream="upstream"),
            self.results_outage(0.22 * D, a.outage_seconds),
            self.toxic_window(0.26 * D, 0.08 * D, "reset", "reset_peer", {"timeout": 0}, 0.5),
            self.toxic_window(0.30 * D, 0.20 * D, "trickle", "bandwidth", {"rate": 1}),
            # Second half: the replicas. The SIGTERM comes while a job hangs on a stall that
            # outlasts the shutdown grace period.
            self.toxic_window(0.64 * D, a.shutdown_grace + 15, "stall", "timeout", stall,
                              stream="upstream"),
            self.toxic_window(0.88 * D, 0.08 * D, "reset", "reset_peer", {"timeout": 0}, 0.5),
        ]
        steps = [
            (0.08 * D, self.broker_restart),
            (0.52 * D, self.sigkill_one),
            (0.60 * D, self.sigkill_one),
            (0.64 * D + 6, lambda: self.sigterm_one(stall_repos)),
            (0.84 * D, self.sigkill_one),
            (0.90 * D, self.sigkill_one),
            (0.96 * D, self.sigkill_one),
        ]
        for at, action in steps:
            delay = self.t0 + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            action()
        for thread in windows + [self.sigterm_thread]:
            if thread is not None:
                thread.join()
        producing.join()
        self.toxi.remove("git-latency", "latency")
        self.event("toxic latency off", "git-latency")
        fault_ids = list(jobs.jobs)
        log(f"fault phase over after {time.monotonic() - self.t0:.0f} s; "
            f"waiting for the answers to {len(fault_ids)} messages")
        missing = self.wait_answers(jobs, fault_ids, a.answer_timeout, "fault phase")
        self.fault_phase_s = time.monotonic() - self.t0

        # Final round: no faults, no pushes; one sync per repository.
        self.stop_pushing.set()
        pusher.join()
        self.toxi.clear()
        heads = {repo: self.server_head(repo) for repo in self.repos}
        log(f"final round: one sync per repository ({len(self.repos)})")
        final_ids = [jobs.produce(repo, round_name="final") for repo in sorted(self.repos)]
        jobs.flush(60)
        missing += self.wait_answers(jobs, final_ids, a.answer_timeout, "final round")

        # Offsets: wait for the replicas' commits to reach the end of the jobs topic.
        deadline = time.monotonic() + 60
        while True:
            committed, end = committed_and_end(a)
            if committed == end or time.monotonic() > deadline:
                break
            time.sleep(2)
        self.offsets_running = (committed, end)

        log("stopping the replicas (SIGTERM)")
        self.replicas.stop_all()
        self.offsets_stopped = committed_and_end(a)
        self.stop.set()
        time.sleep(2)  # the collector reads the last answers
        self.collector.stop.set()
        self.collector.join(10)
        self.wall_s = time.time() - a.started_at
        self.verify(jobs, fault_ids, final_ids, heads, missing)

    # -- verification --

    def check(self, name, passed, detail=""):
        self.checks.append((name, passed, detail))
        if not passed:
            self.failures.append(f"{name}: {detail}")

    def verify(self, jobs, fault_ids, final_ids, heads, missing):
        a = self.args
        results, dlq = self.collector.snapshot()
        by_job = {}
        for r in results:
            by_job.setdefault(r["job_id"], []).append(r)
        for answers in by_job.values():
            answers.sort(key=lambda r: (r["ts"], r["partition"], r["offset"]))

        self.check("every job was produced (acknowledged by the broker)", not jobs.errors,
                   f"{len(jobs.errors)} were not, e.g. {jobs.errors[:3]}")
        unknown = sorted(j for j in by_job if j not in jobs.jobs)
        unreadable = self.collector.unreadable
        self.check("every result is a result of a job that was produced",
                   not unknown and not unreadable,
                   f"{len(unknown)} unknown job ids, e.g. {unknown[:3]}; {len(unreadable)} "
                   f"records without a job_id, e.g. {unreadable[:1]}")
        self.check("every job has a final answer (a result, or a DLQ record for non-jobs)",
                   not missing, f"{len(missing)} unanswered, e.g. {missing[:5]}")

        misplaced = []
        for job_id, answers in by_job.items():
            placed = jobs.placed.get(job_id)
            for r in answers:
                source = r["value"].get("source") or {}
                if placed and (source.get("partition"), source.get("offset")) != placed:
                    misplaced.append(job_id)
        self.check("every result names its job's partition and offset", not misplaced,
                   f"{len(misplaced)} do not, e.g. {misplaced[:3]}")

        garbage_answered = [j for j, info in jobs.jobs.items()
                            if info["kind"] == "garbage" and j in by_job]
        dlq_other = [v for v, h in dlq if self.dlq_answer(jobs, v, h) is None]
        dlq_bare = [v for v, headers in dlq if "mgit-error-code" not in headers]
        self.poison = sorted({jobs.by_value[v] for v, h in dlq
                              if h.get("mgit-error-code") == b"poison" and v in jobs.by_value})
        self.check("non-jobs go to the DLQ, untouched and with mgit-error-code, and get no "
                   "result; no other DLQ record but poison ones", not garbage_answered
                   and not dlq_other and not dlq_bare,
                   f"{len(garbage_answered)} got a result; {len(dlq_other)} other DLQ records, "
                   f"e.g. {dlq_other[:1]}; {len(dlq_bare)} without mgit-error-code")

        statuses, codes, bad_status = {}, {}, []
        for job_id, answers in by_job.items():
            info = jobs.jobs.get(job_id)
            if info is None:
                continue
            kind = self.repos[info["repo"]]["kind"]
            for r in answers:
                v = r["value"]
                status = v.get("status")
                code = (v.get("error") or {}).get("code")
                statuses[status] = statuses.get(status, 0) + 1
                if code:
                    codes[code] = codes.get(code, 0) + 1
                if info["kind"] == "invalid":
                    ok = status == "rejected" and code == "invalid_job"
                elif kind == "direct" or info["round"] == "final":
                    ok = status == "succeeded"
                else:
                    ok = status == "succeeded" or (status == "failed" and code in ("network",
                                                                                     "timeout"))
                if not ok:
                    bad_status.append(f"{job_id} ({info['repo']}, {kind}): {status} {code} "
                                      f"{(v.get('error') or {}).get('message', '')}"[:200])
        self.statuses, self.codes = statuses, codes
        self.check("answers as expected: invalid jobs rejected; jobs on direct remotes and in the "
                   "final round succeeded; on toxic remotes succeeded or failed with "
                   "network/timeout", not bad_status,
                   f"{len(bad_status)} not, e.g. {bad_status[:3]}")

        # Duplicates: a job is delivered again when a replica loses offsets it had not
        # committed, or releases a partition whose jobs outlast revoke_grace_seconds (the
        # replicas log that). Each answer after the first is attributed to the first of those
        # between the previous answer and it, else to the first other fault in between.
        kinds = {"SIGKILL": 0, "SIGTERM": 0, "revoke grace passed": 0, "broker restart": 0,
                 "results outage": 0, "unattributed": 0}
        causes = ("SIGKILL", "SIGTERM", "revoke grace passed")
        dup_jobs = 0
        faults = sorted([(t * 1000, k) for k, t, _ in self.events if k in kinds] +
                        [(t * 1000, "revoke grace passed") for t in self.revoke_grace_times()])
        for answers in by_job.values():
            if len(answers) < 2:
                continue
            dup_jobs += 1
            for before, after in zip(answers, answers[1:]):
                between = [k for t, k in faults if before["ts"] < t <= after["ts"]]
                cause = next((k for k in between if k in causes),
                             between[0] if between else "unattributed")
                kinds[cause] += 1
        self.duplicates, self.dup_jobs = kinds, dup_jobs

        overruns = []
        for job_id, answers in by_job.items():
            info = jobs.jobs.get(job_id)
            if info is None or info["kind"] != "valid":
                continue
            for r in answers:
                duration = ((r["value"].get("stats") or {}).get("duration_ms")) or 0
                overruns.append((duration - info["timeout"] * 1000, job_id))
        self.max_overrun = max(overruns) if overruns else (0, "-")
        self.check(f"no execution outlives its deadline by more than {a.overrun_limit} s",
                   self.max_overrun[0] <= a.overrun_limit * 1000,
                   f"{self.max_overrun[1]} ran {self.max_overrun[0] / 1000:.1f} s past its deadline")

        bad_heads = []
        for job_id in final_ids:
            repo = jobs.jobs[job_id]["repo"]
            answers = by_job.get(job_id, [])
            oid = ((answers[-1]["value"].get("head") or {}).get("oid")) if answers else None
            on_disk = subprocess.run(["git", "-C", os.path.join(a.workspace, "chaos", repo),
                                      "rev-parse", "HEAD"], capture_output=True,
                                     text=True).stdout.strip()
            if oid != heads[repo] or on_disk != heads[repo]:
                bad_heads.append(f"{repo}: server {heads[repo][:12]}, result "
                                 f"{(oid or 'none')[:12]}, target {on_disk[:12] or 'none'}")
        self.check("after the final round every target is at the server's head", not bad_heads,
                   f"{len(bad_heads)} not, e.g. {bad_heads[:3]}")

        for label, (committed, end) in (("while running", self.offsets_running),
                                        ("after the replicas stopped", self.offsets_stopped)):
            behind = {p: (committed.get(p), end[p]) for p in end if committed.get(p) != end[p]}
            self.check(f"committed offsets equal the jobs topic's end offsets ({label})",
                       not behind, f"partition: (committed, end) {behind}")

        self.check("the results outage rejected writes with NOT_ENOUGH_REPLICAS, and an "
                   "idempotent producer got through after it",
                   self.outage.get("error") == "NOT_ENOUGH_REPLICAS"
                   and self.outage.get("retried") == "delivered", str(self.outage))
        max_rss = max((r.max_rss for r in self.replicas.replicas), default=0)
        self.check(f"each replica's process tree stays under {a.rss_limit_mib} MiB RSS",
                   max_rss <= a.rss_limit_mib << 20, f"max {max_rss / 2**20:.0f} MiB")
        self.check("no replica exited by itself", not self.replicas.crashes,
                   f"(replica, exit status): {self.replicas.crashes}")
        self.check("no process of a SIGKILLed replica outlived it by 10 s",
                   not self.replicas.orphans, f"(replica, pids): {self.replicas.orphans}")
        sigterm_limit = a.shutdown_grace + a.sigterm_slack
        slow = [(i, round(s, 1), code) for i, s, code in self.replicas.sigterm_exits
                if s > sigterm_limit or code != 0]
        self.check(f"every SIGTERM exits with status 0 within shutdown_grace_seconds + "
                   f"{a.sigterm_slack} s ({sigterm_limit} s)", not slow,
                   f"(replica, seconds, exit status): {slow}")

        self.report(jobs, results, dlq, fault_ids, final_ids)

    def revoke_grace_times(self):
        """When a replica released a revoked partition with jobs still running (from the
        logs, to the second)."""
        times = []
        for r in self.replicas.replicas:
            with open(self.replicas.log_path(r), "rb") as f:
                for line in f:
                    if b'"msg":"revoke grace passed' in line:
                        stamp = json.loads(line)["ts"]
                        times.append(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))
        return times

    def report(self, jobs, results, dlq, fault_ids, final_ids):
        a = self.args
        kinds = {}
        for j in fault_ids:
            kinds[jobs.jobs[j]["kind"]] = kinds.get(jobs.jobs[j]["kind"], 0) + 1
        answered = {r["job_id"] for r in results}
        # Answer rate: its mean over the fault phase follows the producer's pace; its peak
        # (best 5 s) is how fast the replicas catch up after an outage.
        fault_set = set(fault_ids)
        times = sorted(r["ts"] for r in results if r["job_id"] in fault_set)
        peak, j = 0, 0
        for i, t in enumerate(times):
            while times[j] < t - 5000:
                j += 1
            peak = max(peak, i - j + 1)
        sigterms = ", ".join(f"{s:.1f}" for _, s, _ in self.replicas.sigterm_exits)
        rss = " / ".join(f"{r.max_rss / 2**20:.0f}" for r in self.replicas.replicas)
        codes = ", ".join(f"{k} {v}" for k, v in sorted(self.codes.items())) or "none"
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items(),
                                                          key=lambda kv: str(kv[0])))
        d = self.duplicates
        rows = [
            ("jobs (fault phase)", f"{len(fault_ids)} messages over {a.repos} repositories: "
             f"{kinds.get('valid', 0)} sync jobs, {kinds.get('invalid', 0)} invalid, "
             f"{kinds.get('garbage', 0)} not JSON"),
            ("jobs (final round)", f"{len(final_ids)}, one sync per repository"),
            ("commits pushed while running", f"{self.pushes} pushes of 1-3 commits"),
            ("results", f"{len(results)} records for {len(answered)} jobs; {statuses}"),
            ("error codes", codes),
            ("duplicates after SIGKILL", f"{d['SIGKILL']} (5 SIGKILLs)"),
            ("duplicates after SIGTERM", f"{d['SIGTERM']} (1 SIGTERM)"),
            ("other duplicates", f"revoke grace passed {d['revoke grace passed']}, broker restart "
             f"{d['broker restart']}, results outage {d['results outage']}, unattributed "
             f"{d['unattributed']}; "
             f"{self.dup_jobs} jobs answered more than once, never under another job_id"),
            ("DLQ records", f"{len(dlq)} for {kinds.get('garbage', 0)} non-jobs "
             f"({len(dlq) - len(set(v for v, _ in dlq))} sent again after a fault); "
             f"poison: {len(self.poison)} jobs {self.poison[:3]}"),
            ("max deadline overrun", f"{self.max_overrun[0] / 1000:.1f} s "
             f"(timeout_seconds {a.timeout_seconds}, limit {a.overrun_limit} s)"),
            ("SIGTERM exit times", f"{sigterms} s (max "
             f"{max((s for _, s, _ in self.replicas.sigterm_exits), default=0):.1f} s; "
             f"grace {a.shutdown_grace} s)"),
            ("results outage", f"{self.outage.get('error')} for ~{a.outage_seconds} s; "
             f"idempotent probe {self.outage.get('retried')}"),
            ("broker restart", f"{self.notes.get('broker_restart_s', 0):.1f} s stop to ready"),
            ("max RSS per replica (process tree)", f"{rss} MiB"),
            ("wall time", f"{self.wall_s:.0f} s in all; fault phase {self.fault_phase_s:.0f} s "
             f"until its last answer"),
            ("throughput", f"{len(fault_ids) / self.fault_phase_s:.1f} jobs/s over the fault "
             f"phase (produced at {a.jobs / a.duration:.0f}/s); peak {peak / 5:.0f} answers/s "
             f"(best 5 s)"),
        ]
        print("| figure | value |")
        print("|---|---|")
        for name, value in rows:
            print(f"| {name} | {value} |")
        print()
        for name, passed, detail in self.checks:
            print(f"{'PASS' if passed else 'FAIL'}: {name}" + ("" if passed else f" — {detail}"))
        print(f"{sum(p for _, p, _ in self.checks)} passed, "
              f"{sum(not p for _, p, _ in self.checks)} failed")
        sys.stdout.flush()


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", required=True)
    p.add_argument("--repo-root", required=True)
    p.add_argument("--mgitd", required=True)
    p.add_argument("--brokers", required=True)
    p.add_argument("--kafka-dir", required=True, help="scripts/kafka DIR of node 1")
    p.add_argument("--kafka2-dir", required=True, help="scripts/kafka DIR of node 2")
    p.add_argument("--git-url", required=True, help="the git server's https URL")
    p.add_argument("--git-ca-file", required=True, help="CA of the git server's certificate")
    p.add_argument("--git-dir", required=True)
    p.add_argument("--toxiproxy", required=True, help="toxiproxy API URL")
    p.add_argument("--jobs", type=int, default=10000)
    p.add_argument("--repos", type=int, default=100)
    p.add_argument("--duration", type=float, default=300, help="fault phase, seconds")
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--partitions", type=int, default=12)
    p.add_argument("--timeout-seconds", type=int, default=30)
    p.add_argument("--shutdown-grace", type=int, default=10)
    p.add_argument("--sigterm-slack", type=int, default=5)
    p.add_argument("--overrun-limit", type=int, default=5)
    p.add_argument("--rss-limit-mib", type=int, default=1024)
    p.add_argument("--outage-seconds", type=float, default=20)
    p.add_argument("--broker-down", type=float, default=3)
    p.add_argument("--restart-delay", type=float, default=1)
    p.add_argument("--push-interval", type=float, default=0.5)
    p.add_argument("--answer-timeout", type=int, default=300)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--started-at", type=float, default=time.time(),
                   help="epoch seconds when the run began (for the wall time)")
    a = p.parse_args()
    a.seed = a.seed if a.seed is not None else int(time.time())
    a.run_id = f"chaos{a.seed}"
    a.group = "mgitd-chaos"
    a.jobs_topic, a.results_topic, a.dlq_topic = ("chaos.jobs", "chaos.results", "chaos.dlq")
    a.audit_topic = "chaos.audit"
    a.workspace = os.path.join(a.run_dir, "workspace")
    a.credentials_dir = os.path.join(a.run_dir, "credentials")
    with open(os.path.join(a.kafka2_dir, "node-id")) as f:
        a.node2_id = int(f.read())
    return a


def main():
    args = parse_args()
    log(f"seed {args.seed}; {args.jobs} jobs over {args.repos} repositories in "
        f"{args.duration:.0f} s, {args.replicas} replicas")
    run = Run(args)
    # scripts/chaos stops the driver with SIGTERM when it is interrupted.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        run.execute()
    except BaseException:
        run.stop.set()
        run.replicas.kill_all()
        raise
    if run.failures:
        log(f"{len(run.failures)} assertion(s) failed:")
        for failure in run.failures:
            log(f"  FAILED: {failure}")
        return 1
    log("all assertions passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
