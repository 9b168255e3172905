# Stand-in for postgres:15-alpine, from Debian's postgresql-15: CI cannot reach Docker
# Hub. Only what docker-compose.yml uses: POSTGRES_DB, POSTGRES_USER and
# POSTGRES_PASSWORD_FILE on the first start, the data in /var/lib/postgresql/data,
# pg_isready for the health check.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
# No cluster from the package: the entrypoint makes the only one, in the volume.
RUN mkdir -p /etc/postgresql-common \
    && echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       -o Dpkg::Options::=--force-confold postgresql-15 \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data /run/postgresql \
    && chown postgres:postgres /var/lib/postgresql/data /run/postgresql \
    && chmod 700 /var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
USER postgres
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
