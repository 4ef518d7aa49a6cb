"""server.py: serves web/ and nothing else, with the right MIME types and security headers."""

import pytest

import server

SECURITY_HEADERS = {
    "Content-Security-Policy": server.CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
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
    "//etc/passwd",
])
def test_nothing_outside_web_files_is_served(web_client, path):
    response = web_client.get(path, buffered=True)
    assert response.status_code == 404
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
    assert "Cross-Origin-Opener-Policy" not in response.headers
    assert "Cross-Origin-Embedder-Policy" not in response.headers


def test_isolate_adds_cross_origin_isolation(web):
    response = server.create_app({"WEB_ROOT": str(web), "ISOLATE": True}).test_client().get("/", buffered=True)
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"


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
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status, *lines = data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    return status, [tuple(part.strip() for part in line.split(":", 1)) for line in lines]


@pytest.mark.parametrize("request_bytes, code", [
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "414"),  # refused before Flask sees it
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n", "431"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "200"),
    (b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", "404"),
], ids=["uri-too-long", "headers-too-large", "ok", "not-found"])
def test_every_answer_has_the_security_headers_and_one_date(web, request_bytes, code):
    with server.serving(server.create_app({"WEB_ROOT": str(web)})) as url:
        status, headers = _raw_response(url, request_bytes)
    assert status.split()[1] == code, status
    names = [name.lower() for name, _ in headers]
    for name, value in server.SECURITY_HEADERS.items():
        assert (name, value) in headers, (code, name)
    assert names.count("date") == 1, headers
