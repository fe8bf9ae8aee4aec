"""AdminServer.stop() closes every connection it accepted, even keep-alive ones still open."""

from __future__ import annotations

import http.client

from flask import Flask

from admin.server import AdminServer


def test_stop_closes_connections_a_client_keeps_open():
    app = Flask("probe")

    @app.get("/")
    def index():
        return "ok"

    server = AdminServer(app, "127.0.0.1", 0, threads=2).start()
    clients = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=5) for _ in range(3)]
    try:
        for c in clients:          # HTTP/1.1 keep-alive: the server keeps each channel open
            c.request("GET", "/")
            assert c.getresponse().read() == b"ok"
        channels = [d for d in list(server._server._map.values()) if hasattr(d, "requests")]
        assert len(channels) == 3
        server.stop()
        assert server._server._map == {}
        assert all(ch.socket is None or ch.socket.fileno() == -1 for ch in channels)
    finally:
        for c in clients:
            c.close()
