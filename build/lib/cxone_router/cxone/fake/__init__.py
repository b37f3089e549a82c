"""A fake CXone tenant: token endpoint, discovery, webhooks CRUD and fault injection."""
