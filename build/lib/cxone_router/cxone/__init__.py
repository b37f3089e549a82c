"""CXone REST API: an async client, the `webhooks` command and a fake CXone to test against.

Entry points for other parts of the router (e.g. `cxone-router dev`):

- `pipeline.cxone.settings.CxoneSettings.for_fake(base_url) -> CxoneSettings`: settings that
  point at a fake CXone served at `base_url`, with the fake's demo credentials.
- `pipeline.cxone.fake.server.build_app(state: FakeState | None = None) -> Starlette`: the fake
  CXone (token endpoint, discovery, webhooks CRUD, fault injection under `/_fake/`).
- `pipeline.cxone.registration.register_edge(settings: CxoneSettings, url: str) -> str`
  (async): registers `url` as a webhook, or finds its existing registration, and returns the id.
- `pipeline.cxone.fake.serve.FakeCxoneServer(app=None, host="127.0.0.1", port=0)`: serves the
  fake with uvicorn in a background thread; `with FakeCxoneServer() as base_url: ...`.

The fake's demo credentials are `pipeline.cxone.fake.state.FAKE_CREDENTIALS`. See
docs/cxone-tenant.md for settings, grants and exit codes.
"""
