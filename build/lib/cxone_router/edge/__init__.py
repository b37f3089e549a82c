"""The HTTP edge: accept CXone webhooks and answer only once Kafka has them."""

WEBHOOK_PATH = "/webhooks/cxone"
