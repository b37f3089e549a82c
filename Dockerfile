# syntax=docker/dockerfile:1
# cxone-router: one image for the edge, the worker and the one-shot commands.
#   docker build -t cxone-router .
#   docker run --rm cxone-router --help

# Builder: a regular (non-editable) install into a venv, so the final stage needs neither
# the sources nor pip's caches. Only the runtime dependencies: no dev extras, no tests.
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY agents ./agents
RUN /opt/venv/bin/pip install .

FROM python:3.11-slim
# schemas/ is data beside the packages, not in them: the installed package would look
# for it inside site-packages, so ship it and say where. Faust's working folder must be
# writable by the unprivileged user.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CXR_SCHEMAS_DIR=/app/schemas \
    CXR_DATA_DIR=/var/lib/cxone-router
RUN groupadd --system --gid 10001 cxr \
    && useradd --system --uid 10001 --gid cxr --home-dir /var/lib/cxone-router \
       --shell /usr/sbin/nologin cxr \
    && install -d -o cxr -g cxr /var/lib/cxone-router
COPY --from=builder /opt/venv /opt/venv
COPY schemas /app/schemas
WORKDIR /app
USER 10001:10001
EXPOSE 8080 9102
ENTRYPOINT ["cxone-router"]
CMD ["--help"]
