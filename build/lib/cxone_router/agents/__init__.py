"""The Faust app and its agents: ingest (dedup + normalize) and fan-out."""
