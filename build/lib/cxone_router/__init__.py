"""cxone-router: NICE CXone webhooks into clean, deduplicated, per-channel Kafka streams."""
