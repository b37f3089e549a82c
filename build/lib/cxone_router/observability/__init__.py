"""Seeing the SLA: SLOs as data, the Prometheus rules and Grafana dashboards generated
from them, a local Prometheus, and `status`."""
