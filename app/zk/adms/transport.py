"""HTTP for the ADMS link: one request with a timeout and a bounded answer, errors as text.

An answer longer than the caller allows is cut (``Answer.truncated``), never read whole: the link
answers the commands it can still name as too long instead of being fed the same answer again.
"""

from __future__ import annotations

import http.client
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field

USER_AGENT = "iClock Proxy/1.09"   # what ZKTeco terminals send; some servers look for it


class TransportError(Exception):
    """The request did not get an answer (refused, timed out, cut, too large)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    truncated: bool = False   # the answer was longer than asked for: `body` is its beginning

    def text(self) -> str:
        for encoding in ("utf-8", "gb18030"):
            try:
                return self.body.decode(encoding)
            except UnicodeDecodeError:
                continue
        return self.body.decode("utf-8", errors="replace")


class HttpTransport:
    """urllib, which speaks http and https (system CA store); one connection a request."""

    def request(self, method: str, url: str, body: bytes | None, *, timeout: float,
                max_bytes: int) -> Answer:
        headers = {"User-Agent": USER_AGENT}
        if body is not None:
            headers["Content-Type"] = "text/plain"
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                data = response.read(max_bytes + 1)
                status, answer_headers = response.status, dict(response.headers.items())
        except urllib.error.HTTPError as exc:
            with exc:
                data = exc.read(4096)
                return Answer(exc.code, data, dict(exc.headers.items()) if exc.headers else {})
        except (urllib.error.URLError, OSError, http.client.HTTPException, socket.timeout) as exc:
            raise TransportError(str(getattr(exc, "reason", exc)) or type(exc).__name__) from exc
        if len(data) > max_bytes:
            return Answer(status, data[:max_bytes], answer_headers, truncated=True)
        return Answer(status, data, answer_headers)
