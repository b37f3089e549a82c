"""Fault drills on a three-node Apache Kafka cluster: `cxone-router drill`."""
