# Stand-in for redis:7-alpine, from Debian's redis-server: CI cannot reach Docker Hub.
# Only what docker-compose.yml uses: `docker-entrypoint.sh redis-server ...`, /data,
# redis-cli for the health check.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir /data && chown redis:redis /data
COPY entrypoint-exec.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server"]
