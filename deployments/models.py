"""Services, revisions and rollouts live here (see docs/architecture.md)."""
