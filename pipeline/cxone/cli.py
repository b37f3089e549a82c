"""`cxone-router webhooks ...` and `cxone-router fake-cxone`: operator commands for CXone.

Exit codes (scripts can branch on them):
0 done; 1 CXone refused the request or answered something unexpected; 2 settings or usage
wrong; 3 credentials refused; 4 a scope is missing; 5 still rate limited after retrying;
6 CXone unreachable or failing (5xx, timeouts); 7 no such webhook.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Annotated, TypeVar

import typer

from cxone_router.cxone.client import CxoneClient
from cxone_router.cxone.errors import (
    AuthError,
    NotFound,
    RateLimited,
    ScopeError,
    ServerError,
    Unreachable,
)
from cxone_router.cxone.settings import load_cxone_settings
from cxone_router.cxone.webhooks import DEFAULT_EVENTS
from cxone_router.errors import ConfigurationError, CxoneRouterError

T = TypeVar("T")

EXIT_CODES: tuple[tuple[type[CxoneRouterError], int], ...] = (
    (ConfigurationError, 2),
    (AuthError, 3),
    (ScopeError, 4),
    (RateLimited, 5),
    (ServerError, 6),
    (Unreachable, 6),
    (NotFound, 7),
    (CxoneRouterError, 1),
)

webhooks_app = typer.Typer(
    help="Register, list and delete this router's webhook with a CXone tenant "
    "(settings: CXR_CXONE_* variables, see docs/cxone-tenant.md).",
    no_args_is_help=True,
)


def exit_code_for(error: CxoneRouterError) -> int:
    return next(code for kind, code in EXIT_CODES if isinstance(error, kind))


def _run(work: Callable[[CxoneClient], Awaitable[T]]) -> T:
    """Run one API conversation; turn errors into a message, a hint and an exit code."""

    async def conversation() -> T:
        async with CxoneClient(load_cxone_settings()) as cxone:
            return await work(cxone)

    try:
        return asyncio.run(conversation())
    except CxoneRouterError as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        hint = getattr(error, "hint", "")
        if hint:
            typer.echo(f"what to do: {hint}", err=True)
        raise typer.Exit(exit_code_for(error)) from None


def _events(values: list[str] | None) -> list[str]:
    events: list[str] = []
    for value in values or DEFAULT_EVENTS:
        for event in value.split(","):
            if event.strip() and event.strip() not in events:
                events.append(event.strip())
    if not events:
        raise typer.BadParameter("name at least one event", param_hint="--events")
    return events


@webhooks_app.command("register")
def register(
    url: Annotated[
        str, typer.Option("--url", help="public https URL of this router's edge endpoint")
    ],
    events: Annotated[
        list[str] | None,
        typer.Option(
            "--events",
            "--event",
            help="event type; repeat or comma-separate. Default: " + ", ".join(DEFAULT_EVENTS),
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="registration name (default CXR_CXONE_WEBHOOK_NAME)")
    ] = None,
) -> None:
    """Register URL as the tenant's webhook; an existing registration is reused.

    The last line of output (stdout) is the webhook id alone, e.g.
    `id=$(cxone-router webhooks register --url https://edge.example.com/webhooks/cxone)`.
    """
    if not url.startswith(("http://", "https://")):
        raise typer.BadParameter("use an http(s) URL", param_hint="--url")
    wanted = _events(events)
    registration = _run(lambda cxone: cxone.register_webhook(url, events=wanted, name=name))
    if registration.created:
        typer.echo(f"registered {url} for {', '.join(wanted)}", err=True)
    else:
        typer.echo(f"{url} was already registered; reusing it", err=True)
        if set(registration.webhook.events) != set(wanted):
            typer.echo(
                "note: the existing registration has events "
                f"{', '.join(registration.webhook.events) or '(none)'}; delete it and register "
                "again to change them",
                err=True,
            )
    typer.echo(registration.id)


@webhooks_app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON array")] = False,
) -> None:
    """List the tenant's webhook registrations: id, url, events, name (tab-separated)."""
    webhooks = _run(lambda cxone: cxone.list_webhooks())
    if as_json:
        typer.echo(json.dumps([asdict(hook) for hook in webhooks], indent=2))
        return
    if not webhooks:
        typer.echo("no webhooks registered", err=True)
    for hook in webhooks:
        typer.echo(f"{hook.id}\t{hook.url}\t{','.join(hook.events)}\t{hook.name}")


@webhooks_app.command("delete")
def delete(
    webhook_id: Annotated[str, typer.Argument(metavar="ID", help="id from `webhooks list`")],
) -> None:
    """Delete a webhook registration by id (exit 7 when there is none)."""
    _run(lambda cxone: cxone.delete_webhook(webhook_id))
    typer.echo(f"deleted {webhook_id}")


def fake_cxone_command(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8090,
    token_ttl: Annotated[float, typer.Option(help="lifetime of issued tokens, seconds")] = 300.0,
) -> None:
    """Serve a fake CXone tenant (tokens, discovery, webhooks, fault injection) for local work."""
    import uvicorn

    from cxone_router.cxone.fake.server import build_app
    from cxone_router.cxone.fake.state import FakeState

    base = f"http://{host}:{port}"
    typer.echo(
        f"fake CXone on {base}; point the router at it with\n"
        f"  CXR_CXONE_INSTANCE={base}\n"
        "  and its public demo credentials (see docs/cxone-tenant.md, 'The fake CXone')",
        err=True,
    )
    uvicorn.run(build_app(FakeState(token_ttl=token_ttl)), host=host, port=port, lifespan="off")
