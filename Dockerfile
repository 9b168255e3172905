# Berth server image: web, worker and beat all run from it (see docker-compose.yml).
FROM python:3.11-slim-bookworm AS assets
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 BERTH_DEBUG=false
RUN useradd --create-home --uid 1000 berth
WORKDIR /app
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY --from=assets /src/node_modules ./node_modules
COPY . .
RUN python scripts/build-agent \
    && BERTH_DEBUG=true BERTH_VAR_DIR=/tmp/build-var python manage.py collectstatic --no-input -v0 \
    && rm -rf /tmp/build-var
USER berth
EXPOSE 8000
CMD ["gunicorn", "berth.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
