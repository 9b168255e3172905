#!/bin/sh
# The official images' entrypoint drops root first; the stand-ins already run as the
# service's user, so theirs only runs the command.
exec "$@"
