"""The Faust app: topics, the dedup table, ingest on the raw topic's records (at least once, or
exactly once with a transaction per raw partition), the purge timer, metrics."""

from __future__ import annotations

import asyncio
import atexit
import gc
import logging
import shutil
import sys
import tempfile
import time
from typing import Any, cast

import faust

from cxone_router.agents import faust_patches
from cxone_router.agents.dedup import DedupIndex
from cxone_router.agents.delivery import WorkerStopping, Writer
from cxone_router.agents.drain import Drain
from cxone_router.agents.fanout import fanout_of, warn_of_the_dev_key
from cxone_router.agents.group_monitor import GroupMonitor
from cxone_router.agents.ingest import Ingest
from cxone_router.agents.metrics import WorkerMetrics
from cxone_router.agents.transactions import Transactions
from cxone_router.agents.versions import check_patched_versions
from cxone_router.kafka.clients import Connection, record_limit
from cxone_router.kafka.security import Security
from cxone_router.kafka.topics import Topics
from cxone_router.mapping import Normalizer
from cxone_router.metrics import serve_metrics
from cxone_router.observability.slo import load_slos
from cxone_router.routing import load_routes
from cxone_router.settings import Settings

log = logging.getLogger(__name__)

DEDUP_TABLE = "dedup"


def _raw_topic(app: faust.App, name: str) -> Any:
    return app.topic(name, key_type=bytes, value_type=bytes,
                     key_serializer="raw", value_serializer="raw")


def create_app(settings: Settings, bootstrap: str) -> faust.App:
    kafka = Connection.of(settings, bootstrap)
    check_patched_versions()
    faust_patches.install(
        settings.fetch_wait_ms, read_committed=settings.exactly_once,
        tail_reader=lambda: kafka.consumer(group_id=None, enable_auto_commit=False))
    # The memory store keeps nothing on disk; each worker process gets its own folder.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    datadir = tempfile.mkdtemp(prefix="faust-", dir=settings.data_dir)
    atexit.register(shutil.rmtree, datadir, ignore_errors=True)
    normalizer = Normalizer.from_dir(settings.schemas_dir)
    routes = load_routes(settings.schemas_dir)
    topics = Topics.of(settings.topic_prefix, normalizer, routes)
    metrics = WorkerMetrics(normalizer.reported_fields(), [r.name for r in routes],
                            load_slos(settings.schemas_dir).latency_thresholds())
    group = f"{settings.topic_prefix}-router"

    app = faust.App(
        group,
        broker=";".join(f"kafka://{host}" for host in bootstrap.split(",")),
        broker_credentials=kafka.security.faust_credentials(),
        store="memory://",
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        producer_acks=-1,
        producer_enable_idempotence=settings.idempotence,
        producer_linger_ms=1,
        producer_max_request_size=record_limit(settings),  # = the topics' max.message.bytes
        # Faust's 20 min by default: lower, a hung broker stalls the worker for less, but
        # Faust drops the table's changelog writes older than this (dedup marks).
        producer_request_timeout=settings.worker_write_timeout_seconds,
        consumer_auto_offset_reset="earliest",
        # exactly once, ours commits (0.1 s); Faust's commits nothing of raw but runs its
        # livelock detector at 2.5x this
        broker_commit_interval=1.0 if settings.exactly_once else settings.commit_interval,
        broker_rebalance_timeout=settings.rebalance_timeout_seconds,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 5),
        consumer_group_instance_id=settings.group_instance_id,
        web_enabled=False,
        autodiscover=False,
    )
    table = app.Table(
        DEDUP_TABLE, default=None, key_type=str, value_type=int,
        partitions=settings.partitions,
        help="Idempotency keys seen, with the time first seen (ms)",
    )
    dedup = DedupIndex(table, settings.dedup_ttl_seconds, metrics)
    fanout = fanout_of(settings, routes, topics)
    ingest = Ingest(normalizer, dedup, {c: topics.channel(c) for c in normalizer.channels},
                    fanout, topics.dlq, metrics, settings.max_form_fields)
    # subscribed as an agent's topic is (the assignment, the table's co-partitioning), but
    # its records go to ingest a fetch at a time (agents/drain.py), not through a stream
    app.topics.add(_raw_topic(app, topics.raw))
    if settings.exactly_once:
        outputs = [*(topics.channel(c) for c in normalizer.channels),
                   *(topics.fanout(r.name) for r in routes), topics.dlq]
        transactions = Transactions(kafka, settings, group, metrics, app.crash, outputs)
        drain = Drain(topics.raw, ingest.submit, settings.worker_batch_size,
                      settings.worker_max_in_flight_events, transactions=transactions)

        @app.task
        async def commit_transactions() -> None:
            """Not a Faust timer: a commit can take longer than the interval (each
            partition's transaction), and the next one waits for it."""
            while True:
                await asyncio.sleep(settings.commit_interval)
                try:
                    await drain.commit()
                except Exception as exc:  # noqa: BLE001 - e.g. fenced: uncommitted, stop
                    if not isinstance(exc.__cause__, WorkerStopping):
                        log.critical("worker stopping: its transactions could not be "
                                     "committed: %r", exc)
                    await app.crash(exc)
                    return
    else:
        # the aiokafka producer Faust starts (and stops after the consumer's last commit)
        writer = Writer(app.producer._ensure_producer,  # type: ignore[attr-defined]
                        metrics, app.crash)
        drain = Drain(topics.raw, ingest.submit, settings.worker_batch_size,
                      settings.worker_max_in_flight_events, writer=writer)
    drain.attach(app)

    purge_every = max(1.0, min(60.0, settings.dedup_ttl_seconds / 10))

    @app.timer(purge_every)
    async def purge_expired_keys() -> None:
        await dedup.purge(int(time.time() * 1000))

    @app.task
    async def freeze_start_up_objects() -> None:
        """What exists once the worker started lives as long as it: out of the collector's
        sight, full collections stop rescanning it (less CPU, shorter pauses)."""
        gc.collect()
        gc.freeze()

    monitor = GroupMonitor(kafka, group, [topics.raw], metrics.registry)

    @app.task
    async def watch_consumer_lag() -> None:
        await monitor.run(settings.lag_check_seconds)

    def on_assigned(sender: Any, assigned: set[Any], **kwargs: Any) -> None:
        """Every rebalance ends with the worker's whole new assignment (empty or not). A
        Faust sensor would see the same, but Faust calls every sensor several times per
        event (-8 % of the worker's throughput, measured)."""
        metrics.rebalances.inc()
        metrics.assigned_partitions.set(sum(1 for tp in assigned if tp.topic == topics.raw))

    app.on_partitions_assigned.connect(cast(Any, on_assigned))

    @app.timer(5.0)
    async def report_table_size() -> None:
        """Set here, on the worker's loop: a scrape (another thread) that reads the Faust
        table itself makes the table's stop hang later (seen: SIGTERM ignored for 20 s)."""
        metrics.dedup_keys.set(len(dedup))

    app.cxr_metrics = metrics  # type: ignore[attr-defined]
    app.cxr_routes = routes  # type: ignore[attr-defined]
    return app


def run_worker(settings: Settings, bootstrap: str) -> None:
    """Run one Faust worker until SIGINT/SIGTERM (Faust's own signal handling)."""
    from faust.worker import Worker

    from cxone_router.logs import configure_logging, logging_config

    configure_logging(settings.log_format, settings.log_level)
    app = create_app(settings, bootstrap)
    port = serve_metrics(app.cxr_metrics.registry,  # type: ignore[attr-defined]
                         settings.metrics_host, settings.metrics_port)
    guarantee = "exactly_once" if settings.exactly_once else "at_least_once"
    log.info("worker starting (%s); metrics on http://%s:%d/metrics", guarantee,
             settings.metrics_host, port,
             extra={"metrics_port": port, "group": app.conf.id,
                    "processing_guarantee": guarantee,
                    "kafka_security": Security.of(settings).describe()})
    if settings.processing_guarantee == "exactly_once" and not settings.exactly_once:
        log.warning("CXR_PROCESSING_GUARANTEE=exactly_once, but this broker cannot do "
                    "transactions (the embedded one, or CXR_KAFKA_IDEMPOTENCE=false): "
                    "running at_least_once")
    warn_of_the_dev_key(settings, app.cxr_routes)  # type: ignore[attr-defined]
    worker = Worker(
        app,
        loglevel=settings.log_level,
        logging_config=logging_config(settings.log_format, settings.log_level),
        quiet=True,
        redirect_stdouts=False,
    )
    if settings.log_format == "json" or not sys.stdout.isatty():
        # Faust's start-up spinner (on at warning level and above) writes cursor codes
        # (\x1b[?25l, \x1b[?25h) to stdout, terminal or not, and sets the root logger to
        # DEBUG to spin on every record.
        worker.spinner = None
    # Not a Faust timer: those start only once the worker has partitions.
    worker.loop.create_task(stop_on_fatal_group_error(app))
    worker.execute_from_commandline()


async def stop_on_fatal_group_error(app: faust.App) -> None:
    """Exit non-zero, saying why in one line, so that a supervisor restarts the worker (or
    an operator fixes the setting), instead of a worker idling without partitions."""
    while (error := faust_patches.fatal_group_error(app)) is None:  # noqa: ASYNC110
        await asyncio.sleep(1.0)  # polled: the state lives on the consumer thread
    log.critical("worker stopping: the consumer group refused it: %r (check "
                 "CXR_SESSION_TIMEOUT_SECONDS against the brokers' "
                 "group.min/max.session.timeout.ms, and the group's ACLs)", error)
    await app.crash(error)
