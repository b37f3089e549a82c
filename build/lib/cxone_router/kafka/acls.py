"""Least privilege: the ACLs each role of the pipeline needs on a cluster whose authorizer
allows nothing unlisted, and no more; printed for review or created through the admin API.

| role | may |
| --- | --- |
| edge | write the raw topic (idempotently: Kafka 2.8+ lets WRITE on a topic start an
  idempotent producer, KIP-679) |
| worker | read raw with the workers' group; write the channel, fan-out and dead-letter
  topics, and read their configs (size limits); everything on the Faust app's own topics
  (`<app id>-…`: the dedup table's changelog, the assignor's topic), which it creates;
  exactly once, use the transactional ids `<app id>-<partition>` (write, describe) |
| operator | read every pipeline topic and its configs (`tail`, `dlq`, `topics describe`,
  `reprocess`); write raw (`dlq replay`) and the channel and fan-out topics
  (`reprocess`); reads without a group |
| consumer | read one fan-out route's topic, with its own group |
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from cxone_router.errors import CxoneRouterError
from cxone_router.kafka.topics import Topics

ROLES = ("edge", "worker", "operator", "consumer")


class Resource(IntEnum):  # Kafka's ResourceType codes
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5


class Pattern(IntEnum):  # PatternType
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):  # AclOperation
    READ = 3
    WRITE = 4
    CREATE = 5
    DESCRIBE = 8
    DESCRIBE_CONFIGS = 10


ALLOW = 3  # AclPermissionType


class AclError(CxoneRouterError):
    """The ACLs could not be computed or created."""


@dataclass(frozen=True, order=True)
class Acl:
    principal: str
    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation

    def to_json(self) -> dict[str, str]:
        return {"principal": self.principal, "permission": "ALLOW", "host": "*",
                "operation": self.operation.name, "resource": self.resource.name,
                "name": self.name, "pattern": self.pattern.name}

    def line(self) -> str:
        pattern = " (prefix)" if self.pattern is Pattern.PREFIXED else ""
        return (f"{self.principal}\tALLOW\t{self.operation.name}\t{self.resource.name}\t"
                f"{self.name}{pattern}")


def group_of(topic_prefix: str) -> str:
    """The workers' consumer group, which is also the Faust app id."""
    return f"{topic_prefix}-router"


def acls_for(role: str, principal: str, topics: Topics, route: str | None = None,
             group: str | None = None) -> list[Acl]:
    """The ACLs of one role, sorted. `route` (and `group`) only for a consumer."""
    if role not in ROLES:
        raise AclError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    if (route is not None) != (role == "consumer"):
        raise AclError("--route goes with --role consumer, and only with it")
    if group is not None and role != "consumer":
        raise AclError("--group goes with --role consumer, and only with it")

    def topic(name: str, *operations: Operation, pattern: Pattern = Pattern.LITERAL
              ) -> list[Acl]:
        return [Acl(principal, Resource.TOPIC, name, pattern, op) for op in operations]

    channels = [topics.channel(c) for c in topics.channels]
    fanouts = [topics.fanout(r) for r in topics.routes]
    app = group_of(topics.prefix)
    acls: list[Acl] = []
    if role == "edge":
        acls += topic(topics.raw, Operation.WRITE)
    elif role == "worker":
        acls += topic(topics.raw, Operation.READ)
        for name in [*channels, *fanouts, topics.dlq]:  # configs: their size limits
            acls += topic(name, Operation.WRITE, Operation.DESCRIBE_CONFIGS)
        acls += topic(f"{app}-", Operation.READ, Operation.WRITE, Operation.CREATE,
                      Operation.DESCRIBE, pattern=Pattern.PREFIXED)
        acls.append(Acl(principal, Resource.GROUP, app, Pattern.LITERAL, Operation.READ))
        # exactly once: one transactional producer per raw partition (agents/transactions.py)
        acls += [Acl(principal, Resource.TRANSACTIONAL_ID, f"{app}-", Pattern.PREFIXED, op)
                 for op in (Operation.WRITE, Operation.DESCRIBE)]
    elif role == "operator":
        for name in topics.all():
            acls += topic(name, Operation.READ, Operation.DESCRIBE_CONFIGS)
        for name in [topics.raw, *channels, *fanouts]:
            acls += topic(name, Operation.WRITE)
    else:
        assert route is not None
        if route not in topics.routes:
            raise AclError(f"--route: no route {route!r} in routes.json; routes: "
                           f"{', '.join(topics.routes)}")
        acls += topic(topics.fanout(route), Operation.READ)
        acls.append(Acl(principal, Resource.GROUP, group or f"{topics.prefix}.{route}",
                        Pattern.LITERAL, Operation.READ))
    return sorted(acls)


async def create(admin: Any, acls: list[Acl]) -> None:
    """Create `acls` through the admin API (CreateAcls); existing ones are left as they
    are (Kafka treats a duplicate as created)."""
    from aiokafka.errors import for_code
    from aiokafka.protocol.admin import CreateAclsRequest

    for acl in acls:
        request = CreateAclsRequest(acl.resource, acl.name, acl.pattern, acl.principal, "*",
                                    acl.operation, ALLOW)
        response = await admin._send_request(request)
        for code, message in response.creation_responses:
            if code == 0:
                continue
            name = for_code(code).__name__
            if name == "SecurityDisabledError":
                raise AclError("the cluster has no authorizer: set authorizer.class.name "
                               "on the brokers first")
            if name == "ClusterAuthorizationFailedError":
                raise AclError("this principal may not create ACLs (ALTER on the cluster): "
                               "run --apply with an admin's credentials")
            raise AclError(f"cannot create {acl.line()!r}: {name} {message or ''}".strip())
