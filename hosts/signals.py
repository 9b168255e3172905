"""Signals other apps listen to, so hosts never imports them."""

from django.dispatch import Signal

# Sent after a host's state was stored from a successful refresh; kwargs: host.
host_refreshed = Signal()

# Sent after a host's disk usage was measured and stored (``host.disk``); kwargs: host,
# volume_sizes (volume name -> bytes, or None when its driver does not say).
disk_measured = Signal()
