"""The VCN web service: a FastAPI app that serves a trained Variational Capsule Network.

`app.main.create_app` assembles the service, `app.main.serve` runs it (the `vcn serve` command), and
`app.main:app` is the module-level instance for `uvicorn app.main:app`.
"""
