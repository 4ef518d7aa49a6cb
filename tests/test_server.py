"""server.py: serves web/ and nothing else, with the right MIME types and security headers."""

import pytest

import server

SECURITY_HEADERS = {
    "Content-Security-Policy": server.CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@pytest.fixture
def web(tmp_path):
    """A small web root with one file of each served type, beside a file that must stay private."""
    root = tmp_path / "web"
    (root / "model").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>SkinLens</title>")
    (root / "main.js").write_text("export {};\n")
    (root / "lib.mjs").write_text("export {};\n")
    (root / "style.css").write_text("body {}\n")
    (root / "app.webmanifest").write_text("{}\n")
    (root / "engine.wasm").write_bytes(b"\0asm\1\0\0\0")
    (root / "model" / "metadata.json").write_text('{"schema_version": 1}\n')
    (root / "model" / "group1-shard1of1.bin").write_bytes(bytes(16))
    (root / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    (tmp_path / "secret.txt").write_text("not for the web\n")
    return root


@pytest.fixture
def web_client(web):
    return server.create_app({"WEB_ROOT": str(web)}).test_client()


@pytest.mark.parametrize("path, mimetype", [
    ("/", "text/html"),
    ("/index.html", "text/html"),
    ("/main.js", "text/javascript"),
    ("/lib.mjs", "text/javascript"),
    ("/style.css", "text/css"),
    ("/engine.wasm", "application/wasm"),
    ("/model/metadata.json", "application/json"),
    ("/model/group1-shard1of1.bin", "application/octet-stream"),
    ("/app.webmanifest", "application/manifest+json"),
    ("/photo.png", "image/png"),
    ("/photo.jpg", "image/jpeg"),
])
def test_serves_web_files_with_their_mime_type(web_client, web, path, mimetype):
    response = web_client.get(path, buffered=True)
    assert response.status_code == 200
    assert response.mimetype == mimetype
    expected = web / ("index.html" if path == "/" else path.lstrip("/"))
    assert response.data == expected.read_bytes()


@pytest.mark.parametrize("path", [
    "/missing.js",
    "/model/",  # a folder, not a file
    "/../secret.txt",
    "/%2e%2e/secret.txt",
    "/model/..%2f..%2fsecret.txt",
    "/static/../../secret.txt",
    "//etc/passwd",  # the test client reads "etc" as the host: refused (400)
])
def test_nothing_outside_web_files_is_served(web_client, path):
    response = web_client.get(path, buffered=True)
    assert response.status_code in (400, 404) if path.startswith("//") else response.status_code == 404
    assert b"not for the web" not in response.data


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("path", ["/", "/main.js", "/upload"])
def test_only_get_and_head_are_allowed(web_client, method, path):
    response = web_client.open(path, method=method, data=b"image bytes", buffered=True)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD"}


def test_head_gives_headers_without_body(web_client, web):
    response = web_client.head("/main.js", buffered=True)
    assert response.status_code == 200
    assert response.data == b""
    assert int(response.headers["Content-Length"]) == (web / "main.js").stat().st_size


@pytest.mark.parametrize("method, path", [("GET", "/"), ("GET", "/main.js"), ("GET", "/missing.js"),
                                          ("POST", "/"), ("HEAD", "/style.css")])
def test_every_response_has_the_security_headers(web_client, method, path):
    response = web_client.open(path, method=method, buffered=True)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "Cross-Origin-Embedder-Policy" not in response.headers
    assert "Server" not in response.headers


def test_isolate_adds_cross_origin_isolation(web):
    response = server.create_app({"WEB_ROOT": str(web), "ISOLATE": True}).test_client().get("/", buffered=True)
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"


@pytest.mark.parametrize("host, answered", [
    ("localhost", True), ("localhost:8000", True), ("127.0.0.1:8000", True), ("[::1]:8000", True),
    ("LOCALHOST:8000", True),
    ("attacker.example", False), ("attacker.example:8000", False), ("127.0.0.1.attacker.example", False),
    ("192.168.1.5:8000", False), ("[::1", False), ("", False),
])
def test_only_the_bound_address_is_answered(web_client, host, answered):
    """A page on attacker.example whose name is made to resolve to 127.0.0.1 (DNS rebinding) would read
    the server as its own origin: such a Host is refused."""
    response = web_client.get("/main.js", headers={"Host": host}, buffered=True)
    assert response.status_code == (200 if answered else 400), response.data
    assert ("--allow-host" in response.get_data(as_text=True)) is not answered
    assert {k: response.headers[k] for k in SECURITY_HEADERS} == SECURITY_HEADERS


@pytest.mark.parametrize("argv, host, answered", [
    (["--host", "0.0.0.0"], "192.168.1.5:8000", True),  # every address: any IP, which no page can rebind
    (["--host", "0.0.0.0"], "skinlens.lan:8000", False),
    (["--host", "0.0.0.0", "--allow-host", "skinlens.lan"], "skinlens.lan:8000", True),
    (["--host", "::", "--allow-host", "a.lan", "--allow-host", "B.lan"], "b.lan", True),
    (["--host", "::"], "[fe80::1]:8000", True),
    (["--host", "192.168.1.5"], "192.168.1.5:8000", True),
    (["--host", "192.168.1.5"], "192.168.1.6:8000", False),
    (["--host", "192.168.1.5"], "localhost:8000", False),
    ([], "attacker.example", False),
    (["--allow-host", "skinlens.test"], "skinlens.test:8000", True),
])
def test_the_command_line_answers_its_address_and_allowed_hosts(web, monkeypatch, argv, host, answered):
    calls = []
    monkeypatch.setattr(server, "run_simple", lambda *args, **kwargs: calls.append(args))
    server.main(argv)
    app = calls[0][2]
    app.config["WEB_ROOT"] = str(web)
    response = app.test_client().get("/main.js", headers={"Host": host}, buffered=True)
    assert response.status_code == (200 if answered else 400)


@pytest.mark.parametrize("port", ["99999", "0", "-1", "65536"])
def test_a_port_out_of_range_is_refused_in_one_line(monkeypatch, capsys, port):
    """Not printed as the address and then listened on as another (a random port, or an OverflowError)."""
    monkeypatch.setattr(server, "run_simple", lambda *args, **kwargs: pytest.fail("listened"))
    with pytest.raises(SystemExit) as exit_:
        server.main(["--port", port])
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "1 to 65535" in err and "Traceback" not in err, err


@pytest.mark.parametrize("folder", ["missing", "empty"])
def test_a_model_folder_that_is_not_a_converted_model_is_refused_in_one_line(monkeypatch, capsys, tmp_path, folder):
    monkeypatch.setattr(server, "run_simple", lambda *args, **kwargs: pytest.fail("listened"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_:
        server.main(["--model", str(tmp_path / folder)])
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"server.py: error: {tmp_path / folder}: no metadata.json (a folder written by " \
        "python -m converter)\n", err


def test_csp_header_extends_the_meta_policy_of_the_real_page(client):
    """The header is the page's <meta> policy plus frame-ancestors, which browsers ignore in <meta>."""
    page = client.get("/", buffered=True).get_data(as_text=True)
    meta = f'<meta http-equiv="Content-Security-Policy" content="{server.CONTENT_SECURITY_POLICY}">'
    meta = meta.replace("; frame-ancestors 'none'", "")
    assert meta in page
    assert server.CONTENT_SECURITY_POLICY.endswith("; frame-ancestors 'none'")


def test_real_web_folder_is_served(client):
    assert client.get("/", buffered=True).status_code == 200
    assert client.get("/vendor/tfjs/tfjs-backend-wasm.wasm", buffered=True).mimetype == "application/wasm"
    assert client.get("/server.py", buffered=True).status_code == 404


def test_no_debug_mode(app, monkeypatch):
    """Neither the app nor the CLI ever runs the debugger, which would allow code execution."""
    assert not app.debug
    monkeypatch.setenv("FLASK_DEBUG", "1")
    calls = []
    monkeypatch.setattr(server, "run_simple", lambda *args, **kwargs: calls.append((args, kwargs)))
    server.main([])
    (host, port, served), options = calls[0]
    assert (host, port) == ("127.0.0.1", 8000)
    assert not served.debug
    assert options == {"threaded": True, "use_debugger": False, "use_reloader": False,
                       "request_handler": server.RequestHandler}


def test_cli_flags():
    args = server.parse_args(["--host", "0.0.0.0", "--port", "9000", "--isolate", "--model", "runs/x/model"])
    assert (args.host, args.port, args.isolate, args.model) == ("0.0.0.0", 9000, True, "runs/x/model")
    assert server.parse_args([]).isolate is False and server.parse_args([]).model is None


def test_another_model_folder_is_served_as_the_pages_model(web, tmp_path):
    """--model DIR: DIR is the page's model/ and DIR/../golden its golden/, web/model is untouched, and
    precache.json lists the files actually served, so the offline copy is of this mix."""
    import hashlib
    import json

    mine = tmp_path / "mine"
    (mine / "model").mkdir(parents=True)
    (mine / "golden").mkdir()
    (mine / "model" / "metadata.json").write_text('{"schema_version": 1, "mine": true}\n')
    (mine / "model" / "weights.bin").write_bytes(b"mine")
    (mine / "golden" / "case.jpg").write_bytes(b"\xff\xd8\xffmine")
    client = server.create_app({"WEB_ROOT": str(web), "MODEL_DIR": str(mine / "model")}).test_client()

    def get(path):
        with client.get(path) as response:  # closes the file send_file opened
            return response.status_code, response.get_data(), dict(response.headers)

    assert json.loads(get("/model/metadata.json")[1]) == {"schema_version": 1, "mine": True}
    assert get("/model/weights.bin")[:2] == (200, b"mine") and get("/golden/case.jpg")[0] == 200
    assert get("/model/group1-shard1of1.bin")[0] == 404  # web/model's own files are not mixed in
    assert get("/main.js")[0] == 200
    listed = json.loads(get("/precache.json")[1])["files"]
    assert listed["model/weights.bin"] == hashlib.sha256(b"mine").hexdigest()
    assert "model/group1-shard1of1.bin" not in listed and "golden/case.jpg" in listed and "main.js" in listed
    for path in ("/precache.json", "/model/weights.bin"):
        headers = get(path)[2]
        assert {k: headers[k] for k in SECURITY_HEADERS} == SECURITY_HEADERS
    with pytest.raises(FileNotFoundError, match="no metadata.json"):
        server.create_app({"WEB_ROOT": str(web), "MODEL_DIR": str(tmp_path)})
    assert json.loads((web / "model" / "metadata.json").read_text()) == {"schema_version": 1}


def _raw_response(url: str, request: bytes) -> tuple[str, list[tuple[str, str]]]:
    """Sends raw bytes to the server behind ``url``; returns the status line and the header lines."""
    import socket
    from urllib.parse import urlsplit

    host, port = urlsplit(url).hostname, urlsplit(url).port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(request)
        # Read to the end (the server closes every connection): a client gone mid-body leaves werkzeug's
        # handler with the file it was sending open, a ResourceWarning in whichever test comes next.
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status, *lines = data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    return status, [tuple(part.strip() for part in line.split(":", 1)) for line in lines]


@pytest.mark.parametrize("isolate", [False, True], ids=["plain", "isolate"])
@pytest.mark.parametrize("request_bytes, code", [
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", "414"),  # refused before Flask
    (b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n", "431"),
    (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "200"),
    (b"GET / HTTP/1.0\r\n\r\n", "200"),  # no Host: the bound address
    (b"GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n", "404"),
    (b"GET / HTTP/1.1\r\nHost: attacker.example\r\n\r\n", "400"),
    (b"GET /\r\n\r\n", "505"),  # HTTP/0.9: no headers at all, so not served
    (b"GET / HTTP/x\r\n\r\n", "400"),  # a bad request line, answered by http.server itself
    (b"GET / HTTP/2.0\r\n\r\n", "505"),
    (b"GET\r\n\r\n", "400"),
    (b"BREW / HTTP/1.1\r\nHost: localhost\r\n\r\n", "405"),
], ids=["uri-too-long", "headers-too-large", "ok", "http-1.0", "not-found", "other-host", "http-0.9",
        "bad-version", "http-2", "bad-request-line", "unknown-method"])
def test_every_answer_has_the_security_headers_one_date_and_no_banner(web, request_bytes, code, isolate):
    with server.serving(server.create_app({"WEB_ROOT": str(web), "ISOLATE": isolate})) as url:
        status, headers = _raw_response(url, request_bytes)
    assert status.startswith("HTTP/1.") and status.split()[1] == code, status
    names = [name.lower() for name, _ in headers]
    for name, value in server.response_headers(isolate).items():
        assert (name, value) in headers, (code, name)
    assert ("cross-origin-embedder-policy" in names) is isolate
    assert names.count("date") == 1, headers
    assert "server" not in names, headers


def test_a_download_the_client_resets_midway_closes_its_file(web, monkeypatch):
    """A page closed while a shard downloads resets the connection; when the reset comes as werkzeug
    drains the socket after the answer, it skips closing the answer, whose open file the garbage
    collector found later (a ResourceWarning that failed CI)."""
    import socket
    import struct
    import time

    closed = []
    dropped = server.RequestHandler.connection_dropped

    def spy(self, error, environ=None):
        dropped(self, error, environ)
        closed.append(environ[server.RESPONSE_KEY].file.closed)  # a werkzeug FileWrapper

    monkeypatch.setattr(server.RequestHandler, "connection_dropped", spy)
    with server.serving(server.create_app({"WEB_ROOT": str(web)})) as url:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(b"GET /model/group1-shard1of1.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
            answer = b""
            while not answer.endswith(b"\r\n\r\n" + bytes(16)):  # all written: reset with it unread
                answer = client.recv(65536, socket.MSG_PEEK)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
        deadline = time.monotonic() + 10
        while not closed and time.monotonic() < deadline:
            time.sleep(0.05)
    assert closed == [True]
