"""What every portal response gets, whatever route answers it:

- errors as short Dutch JSON (`{"fout": ...}`): malformed input is a 4xx, never a 500; an
  unexpected exception is a 500 without details (only its type is logged, never its text,
  which might quote what a student wrote);
- security headers: a Content-Security-Policy without inline script or style, no framing,
  nosniff, no referrer, and no version banner in `Server`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    # aiohttp only sets `Server` when it is missing: this replaces "Python/3.x aiohttp/3.x".
    "Server": "loopbaancoach",
}

MESSAGES = {
    400: "Dit verzoek kon ik niet lezen.",
    401: "Je bent niet ingelogd.",
    403: "Dat mag je hier niet doen.",
    404: "Deze pagina bestaat niet.",
    405: "Dat kan hier niet.",
    408: "Dit duurde te lang. Probeer het opnieuw.",
    411: "Dit verzoek kon ik niet lezen.",
    413: "Je bericht is te groot.",
    414: "Dit adres is te lang.",
    415: "Dit soort bericht kan ik niet lezen.",
    429: "Even rustig aan: probeer het zo opnieuw.",
    431: "Dit verzoek kon ik niet lezen.",
}
OTHER_CLIENT_ERROR = "Dit verzoek kon ik niet verwerken."
SERVER_ERROR = "Er ging iets mis aan onze kant. Probeer het zo opnieuw."
# Headers of an aiohttp HTTP error worth keeping on the JSON version (e.g. Allow on a 405).
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


def error(status: int, message: str | None = None,
          headers: dict[str, str] | None = None) -> web.Response:
    """A Dutch JSON error: `{"fout": "..."}`."""
    if message is None:
        message = MESSAGES.get(status, OTHER_CLIENT_ERROR if status < 500 else SERVER_ERROR)
    return web.json_response({"fout": message}, status=status, headers=headers)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and the like stay what they are
        kept = {name: exc.headers[name] for name in KEPT_HEADERS if name in exc.headers}
        if exc.status >= 500:
            log.warning("portal.http_error", extra={"status": exc.status,
                                                    "route": _route(request)})
        return error(exc.status, headers=kept)
    except HttpProcessingError as exc:  # a body that is not valid HTTP (chunks, length, ...)
        return error(exc.code if 400 <= exc.code < 500 else 400)
    except web.RequestPayloadError:  # e.g. "gzip" that does not decompress
        return error(400)
    except Exception as exc:  # noqa: BLE001 - the last resort: a bare 500, details only in the log
        # Only the type: an exception's text may quote the request (a student's words).
        log.error("portal.unexpected_error", extra={"error": type(exc).__name__,
                                                    "route": _route(request)})
        return error(500)


def _route(request: web.Request) -> str:
    """The route's pattern (e.g. /chat/bericht), never the path a caller made up."""
    info = request.match_info
    resource = info.route.resource if info.route is not None else None
    return resource.canonical if resource is not None else "(unknown)"


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in HEADERS.items():
        response.headers[name] = value


def setup(app: web.Application) -> None:
    app.middlewares.append(json_errors)
    app.on_response_prepare.append(add_headers)


def hide_server_banner() -> None:
    """For the portal's own process: responses made below the application (e.g. a 400 for a
    request line that is not HTTP) also carry no software versions."""
    import aiohttp.web_response

    aiohttp.web_response.SERVER_SOFTWARE = HEADERS["Server"]  # type: ignore[attr-defined]
