# syntax=docker/dockerfile:1
# The Cloudemy images, one target each, built from the repository root:
#   docker build --target backend   -t cloudemy-backend:dev .
#   docker build --target scheduler -t cloudemy-scheduler:dev .
#   docker build --target runner    -t cloudemy-runner:dev .
#   docker build --target runner-polyglot -t cloudemy-runner:dev-polyglot .   (adds gcc/g++, a JDK, Node.js)
# Every image: python:3.12-slim, one virtualenv with cloudemy_common and its package, UID/GID 10001, no compilers
# (except runner-polyglot, whose compilers and runtimes are what its sandbox runs students' programs with).

FROM python:3.12-slim AS base
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --gid 10001 cloudemy \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin cloudemy
WORKDIR /tmp

# The shared contracts, installed once into the virtualenv every image starts from.
FROM base AS build
RUN python -m venv /opt/venv
COPY services/common /src/common
RUN pip install /src/common

# One build stage per package; the same clean-up and bytecode compilation for each.
FROM build AS build-backend
COPY services/backend /src/backend
RUN pip install /src/backend \
 && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} + \
 && python -m compileall -q /opt/venv/lib

FROM build AS build-scheduler
COPY services/scheduler /src/scheduler
RUN pip install /src/scheduler \
 && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} + \
 && python -m compileall -q /opt/venv/lib

FROM build AS build-runner
COPY runner /src/runner
RUN pip install /src/runner \
 && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} + \
 && python -m compileall -q /opt/venv/lib

FROM base AS scheduler
COPY --from=build-scheduler /opt/venv /opt/venv
USER 10001:10001
EXPOSE 9090
CMD ["python", "-m", "cloudemy_scheduler"]

FROM base AS runner
COPY --from=build-runner /opt/venv /opt/venv
USER 10001:10001
CMD ["python", "-m", "cloudemy_runner"]

# The runner with the toolchains of c, cpp, java and javascript tests (docs/sandbox.md): Debian's current
# packages, whose security updates are the pin.
FROM runner AS runner-polyglot
USER 0
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc g++ libc6-dev default-jdk-headless nodejs \
 && rm -rf /var/lib/apt/lists/*
USER 10001:10001

# Last, so that a plain `docker build .` gives the backend.
FROM base AS backend
COPY --from=build-backend /opt/venv /opt/venv
USER 10001:10001
EXPOSE 8000
CMD ["sh", "-c", "exec gunicorn 'cloudemy_backend.main:create_app()' --worker-class uvicorn.workers.UvicornWorker --bind 0.0.0.0:${PORT:-8000} --workers ${WEB_CONCURRENCY:-2} --graceful-timeout 30 --access-logfile -"]
