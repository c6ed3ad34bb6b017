# The flower server as a container image.
#
#   docker build -t flower .
#   docker run -p 5555:5555 -e CELERY_BROKER_URL=redis://redis:6379/0 flower
#
# Everything after the image name is passed to the `flower` command (`... flower --max_tasks=50000`,
# `... flower demo`); change the port with -e FLOWER_PORT=8080, which the health check reads too.
# Options can also be given as FLOWER_<OPTION> environment variables. docs/docker.md explains the image and
# examples/docker-compose.yml runs it with Redis, a worker, nginx, Prometheus and Grafana.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# -- build: a wheel of this package, from the build context only ----------------------------------------------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY flower ./flower
# the documentation the server shows at /docs (flower/docs links to it)
COPY docs ./docs
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# -- the image: the wheel and its dependencies, run as an unprivileged user -----------------------------------
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLOWER_DATA_DIR=/data \
    PYTHONPATH=/data

COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl \
    && rm -rf /wheels \
    && groupadd --system --gid 1000 flower \
    && useradd --system --uid 1000 --gid flower --home-dir /data --no-create-home --shell /usr/sbin/nologin flower \
    && mkdir -p /data \
    && chown flower:flower /data

# /data is the working directory: `--persistent` keeps its database there (`--db` defaults to `flower`, a
# relative path), and a flowerconfig.py or a Celery app module put there is found (PYTHONPATH).
WORKDIR /data
VOLUME ["/data"]
USER flower:flower

EXPOSE 5555

# /healthcheck answers OK while the server runs. No curl in a slim image: Python asks. FLOWER_PORT,
# FLOWER_URL_PREFIX and FLOWER_CERTFILE are honoured when the server is configured through them.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, ssl, sys, urllib.request; prefix = os.environ.get('FLOWER_URL_PREFIX', '').strip('/'); scheme = 'https' if os.environ.get('FLOWER_CERTFILE') else 'http'; url = '%s://127.0.0.1:%s%s/healthcheck' % (scheme, os.environ.get('FLOWER_PORT') or '5555', '/' + prefix if prefix else ''); body = urllib.request.urlopen(url, timeout=4, context=ssl._create_unverified_context() if scheme == 'https' else None).read(); sys.exit(0 if body.strip() == b'OK' else 1)"]

ENTRYPOINT ["flower"]
CMD []
