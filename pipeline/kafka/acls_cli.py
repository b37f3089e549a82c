"""`cxone-router acls`: print, or create, the ACLs of one role."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import orjson
import typer


def acls_command(
    role: Annotated[str, typer.Option("--role", help="edge, worker, operator or consumer.")],
    principal: Annotated[str, typer.Option(
        "--principal", help="Who gets them, as Kafka names it: User:NAME (a SASL user, or a "
        "certificate's name under the brokers' ssl.principal.mapping.rules).")],
    route: Annotated[str | None, typer.Option(
        "--route", help="A consumer's fan-out route (routes.json).")] = None,
    group: Annotated[str | None, typer.Option(
        "--group", help="A consumer's group; default <prefix>.<route>.")] = None,
    apply: Annotated[bool, typer.Option(
        "--apply", help="Create them through the admin API (with an admin's credentials, "
        "CXR_KAFKA_*); without it they are only printed.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """The ACLs one role of the pipeline needs, and no more, on a cluster whose authorizer
    allows nothing unlisted (allow.everyone.if.no.acl.found=false). Topic names follow
    CXR_TOPIC_PREFIX, schemas/mappings and schemas/routes.json."""
    from cxone_router.kafka.acls import acls_for, create
    from cxone_router.kafka.clients import Connection
    from cxone_router.ops.connect import open_admin, quiet_kafka_logs
    from cxone_router.settings import load_settings
    from cxone_router.stack import topics_for

    if not principal.startswith("User:") or len(principal) <= len("User:"):
        raise typer.BadParameter(f"{principal!r} is not of the form User:NAME",
                                 param_hint="--principal")
    settings = load_settings()
    acls = acls_for(role, principal, topics_for(settings), route, group)
    if json_output:
        sys.stdout.buffer.write(b"".join(orjson.dumps(a.to_json()) + b"\n" for a in acls))
        sys.stdout.flush()
    else:
        typer.echo("principal\tpermission\toperation\tresource\tname")
        for acl in acls:
            typer.echo(acl.line())
    if not apply:
        return
    kafka = Connection.of(settings)
    quiet_kafka_logs()

    async def apply_all() -> None:
        admin = await open_admin(kafka)
        try:
            await create(admin, acls)
        finally:
            await admin.close()

    asyncio.run(apply_all())
    typer.echo(f"created {len(acls)} ACLs for {principal} on {kafka.bootstrap}", err=True)
