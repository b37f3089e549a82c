"""Apache Kafka itself, as local processes: one node, or a cluster of combined
broker+controller nodes in KRaft mode, for the tests, the fault drills and `dev`.

The broker's jars come from Maven Central through `apache-kafka.pom.xml`, fetched once
into `.cxr/` and reused. Each node has its own ports, data folder and log file; data stays
on disk across a node's restarts, so a cluster can be stopped and started again.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cxone_router.errors import CxoneRouterError
from cxone_router.kafka.embedded import free_port, wait_for_port
from cxone_router.settings import REPO_ROOT

KAFKA_VERSION = "4.1.1"  # the version in apache-kafka.pom.xml
POM = Path(__file__).with_name("apache-kafka.pom.xml")
JARS_CACHE = REPO_ROOT / ".cxr" / f"apache-kafka-{KAFKA_VERSION}"
STARTED = b"Kafka Server started"
# Small heaps and one GC thread: three nodes and the pipeline share two cores. C1 only:
# the JIT's second tier costs seconds of CPU at start-up for load these nodes never see.
JVM_OPTIONS = ["-Xms64m", "-Xmx320m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
               "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true"]

LOG4J2 = """Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        Pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
"""


class ApacheKafkaError(CxoneRouterError):
    """Apache Kafka could not be fetched or did not start."""


def require(*tools: str) -> None:
    """One clear line naming what is missing, instead of a Java or Maven traceback."""
    if missing := [tool for tool in tools if shutil.which(tool) is None]:
        raise ApacheKafkaError(
            f"Apache Kafka needs Java 17+ (and Maven, once, to fetch its jars); not on the "
            f"PATH: {', '.join(missing)}. On Debian: apt-get install openjdk-17-jre-headless "
            f"maven. Or use the embedded broker."
        )


def broker_jars(cache: Path = JARS_CACHE) -> Path:
    """The folder of the broker's jars; fetched with Maven the first time. Processes that
    ask at once (make test's two halves) take turns: one fetches, the others wait for it
    and use its jars (a second fetch would replace them under a starting broker)."""
    jars, complete = cache / "jars", cache / ".complete"
    if complete.exists():
        return jars
    require("java", "mvn")
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if complete.exists():  # fetched by another process meanwhile
            return jars
        return _fetch(jars, complete, cache)


def _fetch(jars: Path, complete: Path, cache: Path) -> Path:
    partial = Path(tempfile.mkdtemp(prefix="jars-", dir=cache))
    done = subprocess.run(
        ["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
         f"-DoutputDirectory={partial}", "-DincludeScope=runtime"],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        errors = [line for line in (done.stdout + done.stderr).splitlines()
                  if line.startswith("[ERROR]") and "Help" not in line][:2]
        raise ApacheKafkaError(f"Maven could not fetch Apache Kafka {KAFKA_VERSION}: "
                               + " | ".join(errors))
    shutil.rmtree(jars, ignore_errors=True)
    partial.rename(jars)
    complete.touch()
    return jars


def new_cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


@dataclass
class KafkaNode:
    node_id: int
    port: int
    controller_port: int
    folder: Path
    mtls_port: int = 0  # a secured cluster's SSL listener that requires a client certificate
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def config(self) -> Path:
        return self.folder / "server.properties"

    @property
    def log(self) -> Path:
        return self.folder / "broker.log"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.poll() is None else None


class SecuredKafka:
    """What makes a cluster secured, as production's are: clients and brokers speak
    SASL_SSL with SCRAM-SHA-512 (users added when the storage is formatted), a second
    listener takes clients with a certificate (mutual TLS, principal = the certificate's
    common name), controllers talk TLS with the brokers' certificate, and the
    StandardAuthorizer allows nothing without an ACL, but to the super users `admin` and
    `broker` (the brokers themselves)."""

    MECHANISM = "SCRAM-SHA-512"

    def __init__(self, folder: Path, users: list[str]) -> None:
        from cxone_router.kafka.certificates import LocalCA

        self.ca = LocalCA(folder)
        self.broker = self.ca.issue("broker", dns_names=("localhost",))
        self.passwords = {name: secrets.token_hex(16) for name in ["admin", *users]}

    def format_arguments(self) -> list[str]:
        return [argument for user, password in self.passwords.items()
                for argument in ("--add-scram",
                                 f"{self.MECHANISM}=[name={user},password={password}]")]

    def sasl_env(self, user: str) -> dict[str, str]:
        return {"CXR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "CXR_KAFKA_SASL_MECHANISM": self.MECHANISM, "CXR_KAFKA_SASL_USERNAME": user,
                "CXR_KAFKA_SASL_PASSWORD": self.passwords[user],
                "CXR_KAFKA_SSL_CA_FILE": str(self.ca.cert)}

    def mtls_env(self, common_name: str) -> dict[str, str]:
        pem = self.ca.issue(common_name)
        return {"CXR_KAFKA_SECURITY_PROTOCOL": "SSL", "CXR_KAFKA_SSL_CA_FILE": str(self.ca.cert),
                "CXR_KAFKA_SSL_CERT_FILE": str(pem.cert), "CXR_KAFKA_SSL_KEY_FILE": str(pem.key)}

    def listeners(self, host: str, node: KafkaNode) -> list[str]:
        admin = self.passwords["admin"]
        return [
            f"listeners=SASL_SSL://{host}:{node.port},MTLS://{host}:{node.mtls_port},"
            f"CONTROLLER://{host}:{node.controller_port}",
            f"advertised.listeners=SASL_SSL://{host}:{node.port},MTLS://{host}:{node.mtls_port}",
            "listener.security.protocol.map=SASL_SSL:SASL_SSL,MTLS:SSL,CONTROLLER:SSL",
            "inter.broker.listener.name=SASL_SSL",
            f"sasl.enabled.mechanisms={self.MECHANISM}",
            f"sasl.mechanism.inter.broker.protocol={self.MECHANISM}",
            f"listener.name.sasl_ssl.{self.MECHANISM.lower()}.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="admin" password="{admin}";',
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={self.broker.bundle}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={self.ca.cert}",
            # SSL listeners (MTLS, CONTROLLER) require a certificate; SASL_SSL does not.
            "ssl.client.auth=required",
            "ssl.principal.mapping.rules=RULE:^CN=([^,]+)$/$1/,DEFAULT",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=false",
            "super.users=User:admin;User:broker",
        ]


class ApacheKafka:
    """`nodes` combined broker+controller nodes on loopback; `start()` returns once every
    node is serving. With three nodes or more, topics default to replication factor 3 and
    `min.insync.replicas=2`, as in production."""

    def __init__(self, nodes: int = 1, folder: Path | None = None,
                 host: str = "127.0.0.1", ports: list[int] | None = None,
                 users: list[str] | None = None) -> None:
        """`users`: a secured cluster (see `SecuredKafka`) with these SCRAM users."""
        self.owns_folder = folder is None
        self.folder = folder or Path(tempfile.mkdtemp(prefix="cxr-kafka-"))
        self.secured = SecuredKafka(self.folder / "tls", users) if users is not None else None
        # A secured cluster is dialled by the name its certificate carries.
        self.host = host = "localhost" if self.secured else host
        ports = ports or [free_port(host) for _ in range(nodes)]
        self.nodes = [KafkaNode(i + 1, ports[i], free_port(host), self.folder / f"node-{i + 1}",
                                free_port(host) if self.secured else 0)
                      for i in range(nodes)]

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{self.host}:{n.port}" for n in self.nodes)

    @property
    def pids(self) -> list[int]:
        return [n.pid for n in self.nodes if n.pid is not None]

    @property
    def replication_factor(self) -> int:
        return min(3, len(self.nodes))

    @property
    def mtls_bootstrap(self) -> str:
        """A secured cluster's listener for clients with a certificate (mutual TLS)."""
        return ",".join(f"{self.host}:{n.mtls_port}" for n in self.nodes)

    def client_env(self, user: str = "admin") -> dict[str, str]:
        """The CXR_* settings a pipeline uses on this cluster: production's; on a secured
        cluster, as `user` (the admin, a super user, unless said otherwise)."""
        env = {"CXR_KAFKA_BOOTSTRAP": self.bootstrap, "CXR_KAFKA_IDEMPOTENCE": "true",
               "CXR_REPLICATION_FACTOR": str(self.replication_factor)}
        if self.secured:
            env.update(self.secured.sasl_env(user))
        return env

    def mtls_env(self, common_name: str) -> dict[str, str]:
        """Settings for a client that proves who it is with a certificate (principal
        User:<common_name>) on the mutual-TLS listener."""
        if self.secured is None:
            raise ApacheKafkaError("mutual TLS needs a secured cluster")
        env = {k: v for k, v in self.client_env().items() if "_SASL_" not in k}
        return {**env, **self.secured.mtls_env(common_name),
                "CXR_KAFKA_BOOTSTRAP": self.mtls_bootstrap}

    def properties(self, node: KafkaNode) -> str:
        voters = ",".join(f"{n.node_id}@{self.host}:{n.controller_port}" for n in self.nodes)
        rf, isr = self.replication_factor, min(2, self.replication_factor)
        if self.secured:
            listeners = self.secured.listeners(self.host, node)
        else:
            listeners = [
                f"listeners=PLAINTEXT://{self.host}:{node.port},"
                f"CONTROLLER://{self.host}:{node.controller_port}",
                f"advertised.listeners=PLAINTEXT://{self.host}:{node.port}",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
            ]
        return "\n".join([
            "process.roles=broker,controller",
            f"node.id={node.node_id}",
            f"controller.quorum.voters={voters}",
            "controller.listener.names=CONTROLLER",
            *listeners,
            f"log.dirs={node.data_dir}",
            f"default.replication.factor={rf}",
            f"min.insync.replicas={isr}",
            f"offsets.topic.replication.factor={rf}",
            "offsets.topic.num.partitions=6",
            f"transaction.state.log.replication.factor={rf}",
            f"transaction.state.log.min.isr={isr}",
            "transaction.state.log.num.partitions=6",
            "unclean.leader.election.enable=false",
            # A group's first join is not held back 3 s waiting for more members.
            "group.initial.rebalance.delay.ms=0",
            # Fence a broker that stopped heartbeating after 4 s (default 9 s), and drop a
            # stalled follower from the ISR after 5 s (default 30 s): with acks=all, a
            # paused follower holds every write to its partitions for that long.
            "broker.session.timeout.ms=4000",
            # Let consumers choose a session timeout down to 2 s (default floor: 6 s), the
            # price of failing over from a killed worker within 5 s.
            "group.min.session.timeout.ms=2000",
            "broker.heartbeat.interval.ms=1000",
            "replica.lag.time.max.ms=5000",
            "num.network.threads=2",
            "num.io.threads=2",
            "background.threads=2",
            "num.recovery.threads.per.data.dir=1",
            "log.cleaner.threads=1",
            "",
        ])

    # lifecycle
    def start(self, timeout: float = 90.0) -> ApacheKafka:
        require("java")
        jars = broker_jars()
        cluster_id_file = self.folder / "cluster-id"
        if not cluster_id_file.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            cluster_id_file.write_text(new_cluster_id())
        cluster_id = cluster_id_file.read_text().strip()
        (self.folder / "log4j2.yaml").write_text(LOG4J2)
        for node in self.nodes:
            node.folder.mkdir(parents=True, exist_ok=True)
            node.config.write_text(self.properties(node))
            if not (node.data_dir / "meta.properties").exists():
                scram = self.secured.format_arguments() if self.secured else []
                self._java(jars, node, ["kafka.tools.StorageTool", "format", "-t", cluster_id,
                                        "-c", str(node.config), *scram], wait=True)
        marks = {node.node_id: self._launch(jars, node) for node in self.nodes}
        self._wait_started(marks, timeout)
        return self

    def start_node(self, node_id: int, timeout: float = 60.0) -> None:
        node = self.node(node_id)
        if node.pid is not None:
            raise ApacheKafkaError(f"node {node_id} is already running")
        self._wait_started({node_id: self._launch(broker_jars(), node)}, timeout)

    def signal_node(self, node_id: int, sig: int) -> None:
        """kill -9, SIGSTOP, SIGCONT… one node by its process id."""
        node = self.node(node_id)
        if node.process is None:
            raise ApacheKafkaError(f"node {node_id} is not running")
        node.process.send_signal(sig)
        if sig == signal.SIGKILL:
            node.process.wait()
            node.process = None

    def stop(self, timeout: float = 60.0) -> None:
        """Stop every node (SIGTERM, all at once: a controlled shutdown; SIGKILL after
        `timeout`); the folder goes too when this object made it."""
        self._stop(self.nodes, timeout)

    def remove(self) -> None:
        self.stop(timeout=10)
        if self.owns_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def node(self, node_id: int) -> KafkaNode:
        return self.nodes[node_id - 1]

    def logs(self, lines: int = 40) -> str:
        """The end of every node's log, for a failing test's report."""
        parts = []
        for node in self.nodes:
            with contextlib.suppress(OSError):
                tail = node.log.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- node {node.node_id} ({node.log})\n" + "\n".join(tail))
        return "\n".join(parts)

    def __enter__(self) -> ApacheKafka:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.remove()

    # internals
    def _java(self, jars: Path, node: KafkaNode, args: list[str], wait: bool = False) -> int:
        command = ["java", *JVM_OPTIONS, f"-Dlog4j2.configurationFile={self.folder}/log4j2.yaml",
                   "-cp", f"{jars}/*", *args]
        with node.log.open("ab") as log:
            mark = log.tell()
            if wait:
                done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
                if done.returncode != 0:
                    raise ApacheKafkaError(f"formatting node {node.node_id} failed; see {node.log}")
                return mark
            node.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True,
                                            env={**os.environ, "KAFKA_HEAP_OPTS": ""})
        return mark

    def _launch(self, jars: Path, node: KafkaNode) -> int:
        return self._java(jars, node, ["kafka.Kafka", str(node.config)])

    def _wait_started(self, marks: dict[int, int], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = dict(marks)
        while waiting and time.monotonic() < deadline:
            for node_id, mark in list(waiting.items()):
                node = self.node(node_id)
                if node.process is None or node.process.poll() is not None:
                    raise ApacheKafkaError(f"node {node_id} exited during start-up:\n"
                                           + self.logs())
                with node.log.open("rb") as log:
                    log.seek(mark)
                    if STARTED in log.read():
                        del waiting[node_id]
            time.sleep(0.1)
        if waiting or not all(wait_for_port(self.host, self.node(i).port, 5) for i in marks):
            raise ApacheKafkaError(f"nodes {sorted(waiting)} did not start within "
                                   f"{timeout:.0f} s:\n" + self.logs())

    def _stop(self, nodes: list[KafkaNode], timeout: float) -> None:
        running = [n for n in nodes if n.process is not None and n.process.poll() is None]
        for node in running:
            assert node.process is not None
            with contextlib.suppress(ProcessLookupError):
                node.process.send_signal(signal.SIGCONT)  # a paused node cannot stop
                node.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for node in running:
            assert node.process is not None
            try:
                node.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()
        for node in nodes:
            node.process = None
