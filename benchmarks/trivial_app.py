"""The smallest FastAPI app, served the same way as TradeForge, to show the framework's own ceiling."""

from __future__ import annotations

from fastapi import FastAPI


def app_factory() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return app
