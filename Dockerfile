# syntax=docker/dockerfile:1
# route-me: the webhook service.  Build: docker build -t route-me .   (BuildKit: the default builder)
#
# Three stages: `deps` turns pyproject.toml's dependencies into wheels (cached until they change),
# `build` turns the sources into route-me's own wheel, and the final image installs both from
# local wheels: no compiler, no pip cache, no sources, no editable install.

FROM python:3.11-slim AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /deps
# Only pyproject.toml: editing the code or the README does not rebuild the dependencies.
COPY pyproject.toml ./
RUN python -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb')); print('\n'.join(d['project']['dependencies']))" > requirements.txt \
    && pip wheel --no-cache-dir --wheel-dir /deps/wheels -r requirements.txt

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY bot bot
COPY prompts prompts
# setuptools is the only build requirement (pyproject's build-system); the wheel carries the prompts.
RUN pip install --no-cache-dir "setuptools>=70.1" \
    && pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /dist .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ROUTE_ME_DB=/data/route-me.db \
    ROUTE_ME_DATA_DIR=/data/snapshots \
    PORT=8080
# Dependencies first (their own layer, unchanged by code edits), then route-me's wheel alone.
RUN --mount=type=bind,from=deps,source=/deps,target=/deps \
    pip install --no-cache-dir --no-index --find-links=/deps/wheels -r /deps/requirements.txt
RUN --mount=type=bind,from=build,source=/dist,target=/dist \
    pip install --no-cache-dir --no-index --no-deps /dist/route_me-*.whl \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin routeme \
    && mkdir -p /data && chown routeme /data
WORKDIR /data
USER 10001
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=2)"]
CMD ["route-me", "serve"]
