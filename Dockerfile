# syntax=docker/dockerfile:1
# cxone-router: one image for the edge, the worker and the one-shot commands.
#   docker build -t cxone-router .
#   docker run --rm cxone-router --help

# Builder: a regular (non-editable) install into a venv, so the final stage needs neither
# the sources nor pip's caches. Only the runtime dependencies, at the lock's versions, each
# file checked against its hash (requirements/runtime.txt, `make lock`); no extras.
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY requirements/runtime.txt ./requirements/
RUN /opt/venv/bin/pip install --require-hashes -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY agents ./agents
COPY schemas ./schemas
RUN /opt/venv/bin/pip install --no-deps . && /opt/venv/bin/pip check

FROM python:3.11-slim
# The package carries schemas/ (mappings, routes, SLOs; CXR_SCHEMAS_DIR names a mounted
# folder of your own instead). Faust's working folder must be writable by the unprivileged
# user.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CXR_DATA_DIR=/var/lib/cxone-router
RUN groupadd --system --gid 10001 cxr \
    && useradd --system --uid 10001 --gid cxr --home-dir /var/lib/cxone-router \
       --shell /usr/sbin/nologin cxr \
    && install -d -o cxr -g cxr /var/lib/cxone-router
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
EXPOSE 8080 9102
ENTRYPOINT ["cxone-router"]
CMD ["--help"]
