"""`python -m bot.portal --port 8080`: serve the portal."""

from __future__ import annotations

import argparse
import logging

from aiohttp import web

from bot.config import settings
from bot.portal import security
from bot.portal.app import create_app


def main(argv: list[str] | None = None) -> None:
    cfg = settings()
    parser = argparse.ArgumentParser(prog="python -m bot.portal")
    parser.add_argument("--host", default=cfg.host)
    parser.add_argument("--port", type=int, default=cfg.portal_port)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    security.hide_server_banner()
    web.run_app(create_app(), host=args.host, port=args.port, access_log=None,
                print=lambda *_: None)


if __name__ == "__main__":
    main()
