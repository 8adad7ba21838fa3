# ollama-openai-proxy images. Targets:
#   dev   hot-reload development server (source bind-mounted at /app), see compose.dev.yaml
#   ci    tests + lint tools; default command runs unit/contract tests, ruff and mypy
#   prod  runtime only (default): the wheel installed into /opt/venv, non-root, no compilers
# Build: docker build --target prod -t ollama-openai-proxy .
ARG PYTHON_IMAGE=python:3.12-slim

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    LANG=C.UTF-8

SHELL ["/bin/sh", "-eu", "-c"]

# Security updates on top of the base image's packages, then the unprivileged runtime user.
# hadolint ignore=DL3005
RUN export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get -y upgrade; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log; \
    groupadd --system --gid 10001 app; \
    useradd --system --uid 10001 --gid app --home-dir /home/app --create-home \
        --shell /usr/sbin/nologin app

# ---------------------------------------------------------------------------------------------
# Builds the wheel and a self-contained virtualenv (dependencies + the wheel) for prod.
FROM base AS builder

WORKDIR /src
RUN python -m venv --without-pip /opt/venv
COPY docker/pyproject_requirements.py pyproject.toml ./
# Dependencies first: this layer stays cached until pyproject.toml changes.
RUN python pyproject_requirements.py pyproject.toml > /tmp/requirements.txt; \
    python -m pip --python /opt/venv/bin/python install --no-compile -r /tmp/requirements.txt
COPY . .
RUN python -m pip wheel --no-deps --wheel-dir /dist . ; \
    python -m pip --python /opt/venv/bin/python install --no-deps /dist/*.whl; \
    /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib; \
    /opt/venv/bin/ollama-openai-proxy --version

# ---------------------------------------------------------------------------------------------
# Development: dependencies + [dev] extras; the source is bind-mounted over /app (compose.dev.yaml)
# and uvicorn reloads on change. The CLI has no --reload, so uvicorn is run directly.
FROM base AS dev

# git for pre-commit and VCS-aware tools inside the dev container.
# hadolint ignore=DL3008
RUN export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends git; \
    rm -rf /var/lib/apt/lists/*; \
    python -m venv /opt/venv; \
    chown -R app:app /opt/venv

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    OLLAMA_HOST=0.0.0.0:11434

WORKDIR /app
COPY docker/pyproject_requirements.py /usr/local/share/ollama-openai-proxy/
COPY pyproject.toml ./
RUN python /usr/local/share/ollama-openai-proxy/pyproject_requirements.py pyproject.toml dev \
        > /tmp/requirements-dev.txt; \
    pip install -r /tmp/requirements-dev.txt
COPY --chown=app:app . .
# Editable install: the .pth points at /app/src, so a bind mount over /app takes effect at once.
RUN pip install --no-deps -e . ; \
    chown -R app:app /app /opt/venv

USER 10001:10001
EXPOSE 11434
CMD ["uvicorn", "ollama_openai_proxy.app:create_app", "--factory", "--reload", \
     "--reload-dir", "/app/src", "--host", "0.0.0.0", "--port", "11434"]

# ---------------------------------------------------------------------------------------------
# CI: the dev image plus the tests; default command = unit + contract tests, ruff, mypy. Left out
# here (run by scripts/test on the host): the tests of scripts/ and of the docs against the repo
# (neither is in the image), and those that
# need PostgreSQL/Redis daemons.
FROM dev AS ci

ENV CI=true
CMD ["sh", "-euc", "pytest -q tests/unit tests/contract --ignore=tests/unit/cli/test_scripts.py --ignore=tests/unit/test_limiter.py --ignore=tests/unit/cli/test_docs.py -k 'not postgresql'; ruff check src tests; ruff format --check src tests; mypy"]

# ---------------------------------------------------------------------------------------------
# Production: runtime only. No compilers, no build tools, no reload; runs as uid 10001.
FROM base AS prod

ARG VERSION=0.0.0
LABEL org.opencontainers.image.title="ollama-openai-proxy" \
      org.opencontainers.image.description="Ollama HTTP API served from OpenAI-compatible backends" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}"

COPY --from=builder /opt/venv /opt/venv
COPY docker/healthcheck.py /usr/local/lib/ollama-openai-proxy/healthcheck.py
# The SQLite store's home (a volume in compose.yaml), owned by the user the proxy runs as.
COPY --chown=10001:10001 docker/state/ /var/lib/ollama-openai-proxy/

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    OLLAMA_HOST=0.0.0.0:11434 \
    OLLAMA_PROXY_STATE_DIR=/var/lib/ollama-openai-proxy

WORKDIR /home/app
USER 10001:10001
EXPOSE 11434

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/usr/local/lib/ollama-openai-proxy/healthcheck.py"]

# Exec form: the proxy (uvicorn) is PID 1 and receives SIGTERM directly for a graceful drain.
# Extra arguments (e.g. --port 8080, --log-level debug) go to the CLI.
ENTRYPOINT ["ollama-openai-proxy"]
CMD []
