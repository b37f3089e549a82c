"""Kafka plumbing: the embedded broker, topic names, topic creation, client configs."""
