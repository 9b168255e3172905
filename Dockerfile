# Berth server image: migrate, web, worker, beat and the watcher all run from it
# (see docker-compose.yml and docs/deployment.md).
# BASE_IMAGE: any Debian 12 image whose `python` and `pip` are Python 3.11 (CI builds
# one from Debian's packages with scripts/stack, as it cannot reach Docker Hub).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS assets
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BERTH_DEBUG=false BERTH_VAR_DIR=/var/lib/berth BERTH_BIND=0.0.0.0:8000
RUN useradd --create-home --uid 1000 berth \
    && mkdir -p /var/lib/berth/beat /var/lib/berth/operation-exports \
    && chown -R berth:berth /var/lib/berth
WORKDIR /app
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY --from=assets /src/node_modules ./node_modules
COPY . .
# The agent bundle every host gets (its SHA-256 is what the server checks), and the
# static files whitenoise serves. Both are built here, from the tree in the image.
RUN python scripts/build-agent \
    && rm -rf build/agent-deps \
    && BERTH_DEBUG=true BERTH_BIND=127.0.0.1:8000 BERTH_VAR_DIR=/tmp/build-var python manage.py collectstatic --no-input -v0 \
    && rm -rf /tmp/build-var
USER berth
EXPOSE 8000
# BERTH_BIND through a shell: the settings check the same value gunicorn binds to.
CMD ["sh", "-c", "exec gunicorn berth.wsgi --bind \"$BERTH_BIND\" --workers 3 --access-logfile -"]
