# The HTTP service (docs/serving.md): the package with the shipped default model inside,
# run by a non-root user; `interaction-classifier serve` is the entry point.
#   docker build -t interaction-classifier .
#   docker run -p 8000:8000 interaction-classifier
#   docker run -p 8000:8000 -v /models/mine:/models/mine:ro interaction-classifier \
#       --host 0.0.0.0 --port 8000 --model /models/mine
# One worker per container (the model runs one text at a time per process): scale with
# containers behind a load balancer, or pass --workers N for N cores.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin app \
    && interaction-classifier serve --openapi > /dev/null

USER app
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["interaction-classifier", "serve"]
CMD ["--host", "0.0.0.0", "--port", "8000"]
