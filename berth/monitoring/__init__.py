"""Liveness, readiness and Prometheus metrics for whoever runs Berth (docs/operations.md)."""
