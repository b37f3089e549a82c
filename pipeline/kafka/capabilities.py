"""What the brokers can serve, asked of them rather than guessed from where they are.

Whether writes are idempotent (and so whether a worker can run exactly once) used to
follow from whether `CXR_KAFKA_BOOTSTRAP` was set: pointed by hand at the embedded broker,
which cannot give out producer ids, every writing command failed with `UnknownError`.
Unless `CXR_KAFKA_IDEMPOTENCE` says otherwise, one `InitProducerId` request (the first
thing an idempotent producer sends) now decides.
"""

from __future__ import annotations

import contextlib

from aiokafka.conn import create_conn
from aiokafka.errors import UnknownError, UnsupportedVersionError
from aiokafka.protocol.transaction import InitProducerIdRequest

from cxone_router.kafka.clients import Connection
from cxone_router.kafka.diagnose import PROBE_TIMEOUT_SECONDS, first_answer, host_port
from cxone_router.settings import Settings

# What a broker answers that cannot give out producer ids (the embedded one answers
# UnknownError). Anything else, an authorization error included, means it can: the
# producer then says what is wrong itself.
CANNOT = (UnknownError.errno, UnsupportedVersionError.errno)


async def serves_idempotence(kafka: Connection,
                             timeout: float = PROBE_TIMEOUT_SECONDS) -> bool | None:
    """Whether the first broker that answers gives out producer ids; None when none
    answers within `timeout`."""
    options = kafka.security.client_options()

    async def ask(address: str) -> bool:
        conn = await create_conn(*host_port(address),
                                 request_timeout_ms=int(timeout * 1000), **options)
        try:
            response = await conn.send(InitProducerIdRequest(None, 60_000))
        finally:
            with contextlib.suppress(Exception):
                conn.close()
        return response.error_code not in CANNOT

    answered, served = await first_answer(kafka, ask, timeout)
    return served if answered else None


async def with_capabilities(settings: Settings, kafka: Connection) -> Settings:
    """`settings` with idempotence as the brokers can serve it, unless the environment
    says (`CXR_KAFKA_IDEMPOTENCE`) or no broker answers (then the default stands)."""
    if settings.kafka_idempotence is not None or settings.embedded:
        return settings
    served = await serves_idempotence(kafka)
    if served is None:
        return settings
    return settings.model_copy(update={"kafka_idempotence": served})
