"""The ways in: Litestar app, CLI, httpx client and the use cases."""
