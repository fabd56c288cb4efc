"""What operators see of a running server: logs on stderr (text or JSON, secrets masked) and OpenTelemetry traces
and metrics."""
