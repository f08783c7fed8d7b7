# route-me: the webhook service.  Build: docker build -t route-me .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ROUTE_ME_DB=/data/route-me.db \
    ROUTE_ME_DATA_DIR=/data/snapshots \
    PORT=8080

WORKDIR /app
# Dependencies first, so code edits do not reinstall them.
COPY pyproject.toml README.md ./
COPY bot/__init__.py bot/__init__.py
RUN pip install . && pip uninstall -y route-me
COPY bot bot
COPY prompts prompts
RUN pip install --no-deps -e . \
    && useradd --system --uid 10001 --home-dir /app routeme \
    && mkdir -p /data && chown routeme /data
USER routeme
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=2)"
CMD ["route-me", "serve"]
