"""The `cxone-router` command: one entry point, a subcommand per process role."""

from __future__ import annotations

import os

import typer
from rich.console import Console

from cxone_router.bench.cli import bench_command
from cxone_router.cxone.cli import fake_cxone_command, webhooks_app
from cxone_router.drills.cli import drill_command
from cxone_router.errors import ConfigurationError, CxoneRouterError
from cxone_router.extras import missing_extra
from cxone_router.kafka.acls_cli import acls_command
from cxone_router.observability.cli import observability_app
from cxone_router.observability.status import status_command
from cxone_router.ops.dlq_cli import dlq_app
from cxone_router.ops.tail_cli import tail_command
from cxone_router.ops.topics_cli import topics_app
from cxone_router.reprocess import reprocess_command
from cxone_router.settings import Settings, load_settings
from cxone_router.sign_cli import sign_command
from cxone_router.simulate.cli import simulate_command

app = typer.Typer(
    help="Receive NICE CXone webhooks and turn them into clean per-channel Kafka streams.",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"cxone-router {version('cxone-router')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("cxone-router (not installed)")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    pass


@app.command()
def dev(
    demo: bool = typer.Option(False, "--demo", help="Post the built-in samples and show "
                              "what lands on each topic."),
    simulate: bool = typer.Option(False, "--simulate", help="Feed the pipeline with "
                                  "simulated CXone traffic until Ctrl-C."),
    rate: float = typer.Option(50.0, "--rate", min=0.1, help="Events per second for "
                               "--simulate."),
    prometheus: bool = typer.Option(False, "--prometheus", help="Also start Prometheus "
                                    "(when installed) scraping the stack, with the "
                                    "generated rules and alerts."),
    broker: str = typer.Option("embedded", "--broker", help="The broker to start when "
                               "CXR_KAFKA_BOOTSTRAP is unset: 'embedded' (Python only) or "
                               "'apache' (Apache Kafka; needs Java 17+ and Maven)."),
    nodes: int = typer.Option(1, "--nodes", min=1, max=5, help="Apache Kafka nodes (3 for "
                              "replication factor 3 and min.insync.replicas=2)."),
) -> None:
    """Run everything on one machine: a broker (unless CXR_KAFKA_BOOTSTRAP is set), topics,
    the worker, the edge and a fake CXone. Ctrl-C stops it all. Prints where each /metrics
    is."""
    from cxone_router.dev import run_dev
    from cxone_router.logs import configure_logging

    overrides = {} if "CXR_LOG_FORMAT" in os.environ else {"log_format": "console"}
    settings = load_settings(**overrides)
    configure_logging(settings.log_format, settings.log_level)
    run_dev(settings, demo=demo, simulate_rate=rate if simulate else None, console=Console(),
            prometheus=prometheus, broker=broker, kafka_nodes=nodes)


def _checked(settings: Settings, role: str) -> tuple[Settings, str]:
    """The settings and bootstrap, once the brokers took how we connect (TLS, SASL) and
    said this principal holds the role's ACLs: a wrong password, certificate or a missing
    ACL stops start-up in one line, instead of a retry loop that looks like an outage.
    Brokers that do not answer are an outage: start anyway. The settings say whether the
    brokers can serve idempotent writes (asked, unless CXR_KAFKA_IDEMPOTENCE says)."""
    import asyncio

    from cxone_router.kafka.acls import acls_for, group_of
    from cxone_router.kafka.capabilities import with_capabilities
    from cxone_router.kafka.clients import Connection
    from cxone_router.kafka.diagnose import check_security
    from cxone_router.kafka.permissions import check_permissions
    from cxone_router.kafka.topics import Topics
    from cxone_router.stack import topics_for

    kafka = Connection.of(settings)
    topics = topics_for(settings) if role == "worker" else Topics(settings.topic_prefix, (), ())
    app = group_of(settings.topic_prefix)

    async def check() -> Settings:
        if not await check_security(kafka, timeout=5.0):
            return settings  # no broker answered: an outage, which the processes ride out
        await check_permissions(kafka, acls_for(role, kafka.security.principal, topics), role,
                                also=(f"{app}-dedup-changelog", f"{app}-__assignor-__leader")
                                if role == "worker" else ())
        return await with_capabilities(settings, kafka)

    return asyncio.run(check()), kafka.bootstrap


@app.command()
def edge() -> None:
    """Serve the HTTP edge (needs CXR_KAFKA_BOOTSTRAP)."""
    from cxone_router.edge.app import serve

    serve(*_checked(load_settings(), "edge"))


@app.command()
def worker() -> None:
    """Run one Faust worker: dedup, normalize, fan-out (needs CXR_KAFKA_BOOTSTRAP).
    Start more processes to scale; partitions are the unit of scale."""
    from cxone_router.agents.app import run_worker

    run_worker(*_checked(load_settings(), "worker"))


app.add_typer(topics_app, name="topics")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(dlq_app, name="dlq")
app.add_typer(observability_app, name="observability")
app.command("fake-cxone")(fake_cxone_command)
app.command("simulate")(simulate_command)
app.command("sign")(sign_command)
app.command("bench")(bench_command)
app.command("status")(status_command)
app.command("drill")(drill_command)
app.command("reprocess")(reprocess_command)
app.command("tail")(tail_command)
app.command("acls")(acls_command)


def main() -> None:
    try:
        app()
    except ConfigurationError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise SystemExit(2) from None
    except CxoneRouterError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise SystemExit(1) from None
    except ModuleNotFoundError as exc:
        if (install := missing_extra(exc)) is None:
            raise
        typer.secho(f"error: {install}", fg=typer.colors.RED, err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
