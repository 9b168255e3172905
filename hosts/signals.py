"""Signals other apps listen to, so hosts never imports them."""

from django.dispatch import Signal

# Sent after a host's state was stored from a successful refresh; kwargs: host.
host_refreshed = Signal()
