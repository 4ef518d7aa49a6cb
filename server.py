"""Serve the SkinLens web app (the static files in web/) on this machine.

Images never leave the browser: this server has no upload route, only GET/HEAD of the files in web/,
with the same security headers GitHub Pages cannot send (CSP frame-ancestors, nosniff, ...).

    python server.py                      # http://127.0.0.1:8000/
    python server.py --port 8080 --isolate
    python server.py --model runs/mine/web/model   # the page with your own converted model
    python server.py --host 0.0.0.0 --allow-host skinlens.lan   # on the local network, by IP or that name

--model serves another converted model folder as the page's model/ (and the golden/ folder the converter
wrote beside it), without touching web/model; precache.json then lists those files, so the offline copy
is of this mix.

Every answer carries the security headers, those werkzeug writes itself (414, 431, a malformed request
line) included; HTTP/0.9, which has no headers to carry them, is refused; no Server banner names the
software. A request whose Host is not the address the server is bound to is refused (400), so that a
web page cannot reach this server through a name of its own that resolves here (DNS rebinding);
--allow-host NAME lets that name in, and a server bound to every address (0.0.0.0, ::) takes any IP.

--isolate adds cross-origin embedder isolation (COEP; COOP same-origin is always sent). The page still runs TensorFlow.js's
WebAssembly backend single-threaded: its threaded build starts workers from blob: scripts, which the
CSP below forbids (see README, "The web app"). Tests build the app with `create_app({"WEB_ROOT": ...})`.
"""
import argparse
import contextlib
import ipaddress
import json
import sys
import threading
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, abort, request, send_from_directory
from werkzeug.serving import WSGIRequestHandler, make_server, run_simple

from converter.precache import MANIFEST, manifest

WEB_ROOT = Path(__file__).resolve().parent / "web"

# Same policy as the <meta> tag in web/index.html, plus frame-ancestors, which browsers ignore in <meta>.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'; "
    "img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'none'; "
    "frame-ancestors 'none'"
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    # No other page that opens this one, or that it opens, gets a handle on its window.
    "Cross-Origin-Opener-Policy": "same-origin",
}

# With --isolate (cross-origin isolation: COOP above and this).
ISOLATION_HEADERS = {"Cross-Origin-Embedder-Policy": "require-corp"}

# Hosts a server bound to the loopback address answers to (create_app's default).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# In ALLOWED_HOSTS: any IP address (a server bound to 0.0.0.0 or ::). A rebinding attack needs a name.
ANY_IP = "<any IP address>"


def response_headers(isolate):
    """The headers every answer carries: SECURITY_HEADERS, plus ISOLATION_HEADERS when ``isolate``."""
    return {**SECURITY_HEADERS, **(ISOLATION_HEADERS if isolate else {})}


def allowed_hosts(bound, extra=()):
    """The Host names a server bound to ``bound`` answers to.

    Args:
        bound: the address it listens on (--host).
        extra: more names to answer to (--allow-host).

    Returns:
        A tuple for create_app's ALLOWED_HOSTS: the bound address, its loopback names, ANY_IP when bound to
        every address, and ``extra``.
    """
    names = [bound]
    if bound in LOOPBACK_HOSTS:
        names += LOOPBACK_HOSTS
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(bound).is_unspecified:
            names.append(ANY_IP)
    return tuple(dict.fromkeys(name if name == ANY_IP else name.lower() for name in [*names, *extra]))


def host_allowed(host, allowed):
    """Whether a request's ``host`` (the Host header, ``name[:port]``) names one of ``allowed``."""
    try:
        name = urlsplit(f"//{host}").hostname
    except ValueError:  # e.g. an unbalanced [
        return False
    if not name:
        return False
    if name in allowed:
        return True
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(name)
        return ANY_IP in allowed
    return False


RESPONSE_KEY = "skinlens.response"


def keep_response(wsgi_app):
    """Wraps a WSGI app so that its answer is kept in the environ, for RequestHandler.connection_dropped."""
    def app(environ, start_response):
        response = wsgi_app(environ, start_response)
        environ[RESPONSE_KEY] = response
        return response
    return app


class RequestHandler(WSGIRequestHandler):
    """werkzeug's handler, with the security headers on every answer, the ones it writes before or
    without Flask included (414 URI too long, 431 headers too large, 400 malformed, 500), HTTP/0.9
    refused (its answers have no headers), and no Server banner naming the software and its version."""

    def parse_request(self):
        if not super().parse_request():
            return False
        if len(self.requestline.split()) == 2:  # "GET /", HTTP/0.9
            self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "HTTP/0.9 is not served")
            return False
        return True

    def send_error(self, code, message=None, explain=None):
        # A request line that could not be read counts as HTTP/0.9, whose answers http.server writes
        # without a status line or headers: answer in HTTP/1.0 instead.
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"
        super().send_error(code, message, explain)

    def send_response_only(self, code, message=None):
        self._header_names = set()
        super().send_response_only(code, message)

    def send_header(self, keyword, value):
        if keyword.lower() == "server":
            return
        self._header_names.add(keyword.lower())
        super().send_header(keyword, value)

    def connection_dropped(self, error, environ=None):
        # werkzeug skips closing the answer when the client resets the connection mid-answer (a page
        # closed while a file downloads): close it here, or its open file waits for the garbage
        # collector (a ResourceWarning). create_app's keep_response puts it in the environ.
        response = (environ or {}).get(RESPONSE_KEY)
        if response is not None and hasattr(response, "close"):
            response.close()

    def end_headers(self):
        isolate = getattr(self.server.app, "config", {}).get("ISOLATE", False)
        for name, value in response_headers(isolate).items():
            if name.lower() not in self._header_names:
                self.send_header(name, value)
        super().end_headers()


# Explicit, because the system MIME tables differ (some lack .wasm, which WebAssembly streaming
# compilation requires, or call .js application/javascript).
MIME_TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".bin": "application/octet-stream",
    ".webmanifest": "application/manifest+json",
    ".png": "image/png",
    ".jpg": "image/jpeg",
}


def create_app(test_config=None):
    """Build the Flask app that serves web/.

    Args:
        test_config: mapping that overrides the defaults: WEB_ROOT (folder to serve, default web/ beside
            this file), ISOLATE (send COEP, default False), MODEL_DIR (a converted model folder to serve
            as model/, default web/model) and ALLOWED_HOSTS (the Host names answered, see allowed_hosts;
            default LOOPBACK_HOSTS; None answers any).

    Returns:
        The Flask application.
    """
    app = Flask(__name__, static_folder=None)
    # DEBUG=False also overrides FLASK_DEBUG from the environment.
    app.config.from_mapping(WEB_ROOT=str(WEB_ROOT), ISOLATE=False, MODEL_DIR=None, DEBUG=False,
                            ALLOWED_HOSTS=LOOPBACK_HOSTS)
    if test_config is not None:
        app.config.from_mapping(test_config)
    app.url_map.redirect_defaults = False  # serve /index.html as it is, as GitHub Pages does, not a redirect to /
    # Top-level folders served from elsewhere: --model's folder as model/, and the golden/ beside it.
    elsewhere = {}
    if app.config["MODEL_DIR"]:
        model = Path(app.config["MODEL_DIR"]).resolve()
        if not (model / "metadata.json").is_file():
            raise FileNotFoundError(f"{model}: no metadata.json (a folder written by python -m converter)")
        elsewhere = {"model": model, "golden": model.parent / "golden"}
        precache = json.dumps(manifest(app.config["WEB_ROOT"], elsewhere), indent=1) + "\n"

    @app.before_request
    def refuse_other_hosts():
        allowed = app.config["ALLOWED_HOSTS"]
        if allowed is not None and not host_allowed(request.host, allowed):
            abort(Response("This server does not answer to that Host: see server.py --allow-host.\n",
                           status=400, mimetype="text/plain"))

    # provide_automatic_options=False: OPTIONS gets 405 like every method but GET/HEAD.
    @app.get("/", defaults={"path": "index.html"}, provide_automatic_options=False)
    @app.get("/<path:path>", provide_automatic_options=False)
    def web_file(path):
        # send_from_directory refuses paths that escape WEB_ROOT (404) and directories (404).
        mimetype = MIME_TYPES.get(Path(path).suffix.lower())
        top, _, rest = path.partition("/")
        if top in elsewhere and rest:
            return send_from_directory(elsewhere[top], rest, mimetype=mimetype)
        if elsewhere and path == MANIFEST:
            return Response(precache, mimetype="application/json")
        return send_from_directory(app.config["WEB_ROOT"], path, mimetype=mimetype)

    @app.after_request
    def security_headers(response):
        response.headers.update(response_headers(app.config["ISOLATE"]))
        # The HTTP server sends its own Date line; send_file's would make two.
        response.headers.pop("Date", None)
        return response

    app.wsgi_app = keep_response(app.wsgi_app)
    return app


@contextlib.contextmanager
def serving(app):
    """Runs ``app`` on a free port of 127.0.0.1 in a background thread (tests, benchmarks); yields its URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=RequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def parse_args(argv=None):
    """Parse the command line.

    Args:
        argv: arguments without the program name; None reads sys.argv.

    Returns:
        argparse.Namespace with host, port, isolate, model and allow_host.
    """
    parser = argparse.ArgumentParser(description="Serve the SkinLens web app from web/.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port, 1 to 65535 (default: %(default)s)")
    parser.add_argument("--isolate", action="store_true",
                        help="send COOP/COEP cross-origin isolation headers (default: off)")
    parser.add_argument("--model", metavar="DIR",
                        help="serve this converted model folder as the page's model/ (default: web/model)")
    parser.add_argument("--allow-host", metavar="NAME", action="append", default=[],
                        help="answer requests for this host name too; repeat for more (default: only the "
                             "--host address, and localhost on 127.0.0.1)")
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.exit(2, f"{parser.prog}: error: --port {args.port}: a port is a number from 1 to 65535\n")
    return args


def main(argv=None):
    """Serve web/ until interrupted, never with the debugger or the reloader."""
    args = parse_args(argv)
    try:
        app = create_app({"ISOLATE": args.isolate, "MODEL_DIR": args.model,
                          "ALLOWED_HOSTS": allowed_hosts(args.host, args.allow_host)})
    except (OSError, ValueError) as error:  # a --model folder that is not a converted model: one line
        print(f"server.py: error: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"SkinLens on http://{args.host}:{args.port}/" + (f" with the model in {args.model}" if args.model else ""))
    run_simple(args.host, args.port, app, threaded=True, use_debugger=False, use_reloader=False,
               request_handler=RequestHandler)


if __name__ == "__main__":
    main()
