"""The portal: health page and the student web chat proxy, against the real Rasa server."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.devservers import free_port
from bot.portal.app import create_app


async def client(monkeypatch, rasa_url: str, database_url: str) -> TestClient:
    monkeypatch.setenv("RASA_URL", rasa_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    from bot.storage import db

    db.configure(database_url)
    test_client = TestClient(TestServer(create_app(run_jobs=False)))
    await test_client.start_server()
    return test_client


@pytest.mark.rasa
async def test_web_chat_talks_to_rasa(servers, monkeypatch) -> None:
    c = await client(monkeypatch, servers.rasa_url, servers.env["DATABASE_URL"])
    try:
        page = await c.get("/chat")
        assert page.status == 200 and "Loopbaancoach" in await page.text()
        r = await c.post("/chat/bericht", json={"afzender": "abcdef123456", "bericht": "hoi"})
        assert r.status == 200
        assert any("Loopbaancoach" in t for t in (await r.json())["antwoorden"])
        health = await (await c.get("/health")).json()
        assert health["status"] == "ok" and health["database"] == "ok"
    finally:
        await c.close()


@pytest.mark.parametrize(("body", "status", "words"), [
    (b"{kapot", 400, "niet lezen"),
    (b"[1, 2]", 400, "niet lezen"),
    (b'{"afzender": "x", "bericht": "hoi"}', 400, "chat-id"),
    (b'{"afzender": "abcdef123456", "bericht": "   "}', 400, "Typ eerst"),
    (b'{"afzender": "abcdef123456", "bericht": 12}', 400, "Typ eerst"),
    (b'{"afzender": "abcdef123456", "bericht": "' + b"a" * 2001 + b'"}', 413, "te lang"),
])
async def test_bad_input_gets_a_clear_dutch_error(monkeypatch, tmp_path, body, status,
                                                 words) -> None:
    c = await client(monkeypatch, f"http://127.0.0.1:{free_port()}",
                     f"sqlite:///{tmp_path / 'x.db'}")
    try:
        r = await c.post("/chat/bericht", data=body,
                         headers={"Content-Type": "application/json"})
        assert r.status == status and words in (await r.json())["fout"]
    finally:
        await c.close()


async def test_rasa_down_is_a_503_with_advice(monkeypatch, tmp_path) -> None:
    c = await client(monkeypatch, f"http://127.0.0.1:{free_port()}",
                     f"sqlite:///{tmp_path / 'x.db'}")
    try:
        r = await c.post("/chat/bericht", json={"afzender": "abcdef123456", "bericht": "hoi"})
        assert r.status == 503 and "probeer het zo opnieuw" in (await r.json())["fout"]
        health = await (await c.get("/health")).json()
        assert health["status"] == "ok" and health["database"].startswith("error")
    finally:
        await c.close()
