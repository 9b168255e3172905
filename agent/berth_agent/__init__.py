"""Berth host agent: serves Docker operations as JSON lines over stdin/stdout.

This package runs on managed hosts under their own python3 (3.9+); it imports only the
standard library and, lazily, the bundled Docker SDK.
"""

AGENT_VERSION = "0.1.0"
PROTOCOL_VERSION = 1
