"""Metrics (Prometheus), structured logs and the HTTP hooks that feed both (docs/architecture.md, "Observability")."""
