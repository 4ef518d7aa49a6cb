"""Serve the SkinLens web app (the static files in web/) on this machine.

Images never leave the browser: this server has no upload route, only GET/HEAD of the files in web/,
with the same security headers GitHub Pages cannot send (CSP frame-ancestors, nosniff, ...).

    python server.py                      # http://127.0.0.1:8000/
    python server.py --port 8080 --isolate
    python server.py --model runs/mine/web/model   # the page with your own converted model

--model serves another converted model folder as the page's model/ (and the golden/ folder the converter
wrote beside it), without touching web/model; precache.json then lists those files, so the offline copy
is of this mix.

--isolate adds the cross-origin isolation headers (COOP/COEP). The page still runs TensorFlow.js's
WebAssembly backend single-threaded: its threaded build starts workers from blob: scripts, which the
CSP below forbids (see README, "The web app"). Tests build the app with `create_app({"WEB_ROOT": ...})`.
"""
import argparse
import contextlib
import json
import threading
from pathlib import Path

from flask import Flask, Response, send_from_directory
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
}


class RequestHandler(WSGIRequestHandler):
    """werkzeug's handler, with the security headers on the errors it answers before Flask sees the
    request (414 URI too long, 431 headers too large, 400 malformed)."""

    _answering_error = False

    def send_error(self, code, message=None, explain=None):
        self._answering_error = True
        super().send_error(code, message, explain)

    def end_headers(self):
        if self._answering_error:
            for name, value in SECURITY_HEADERS.items():
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
            this file) and ISOLATE (send COOP/COEP headers, default False).

    Returns:
        The Flask application.
    """
    app = Flask(__name__, static_folder=None)
    # DEBUG=False also overrides FLASK_DEBUG from the environment.
    app.config.from_mapping(WEB_ROOT=str(WEB_ROOT), ISOLATE=False, MODEL_DIR=None, DEBUG=False)
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
        response.headers.update(SECURITY_HEADERS)
        # The HTTP server sends its own Date line; send_file's would make two.
        response.headers.pop("Date", None)
        if app.config["ISOLATE"]:
            response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
            response.headers["Cross-Origin-Embedder-Policy"] = "require-corp"
        return response

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
        argparse.Namespace with host, port and isolate.
    """
    parser = argparse.ArgumentParser(description="Serve the SkinLens web app from web/.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    parser.add_argument("--isolate", action="store_true",
                        help="send COOP/COEP cross-origin isolation headers (default: off)")
    parser.add_argument("--model", metavar="DIR",
                        help="serve this converted model folder as the page's model/ (default: web/model)")
    return parser.parse_args(argv)


def main(argv=None):
    """Serve web/ until interrupted, never with the debugger or the reloader."""
    args = parse_args(argv)
    app = create_app({"ISOLATE": args.isolate, "MODEL_DIR": args.model})
    print(f"SkinLens on http://{args.host}:{args.port}/" + (f" with the model in {args.model}" if args.model else ""))
    run_simple(args.host, args.port, app, threaded=True, use_debugger=False, use_reloader=False,
               request_handler=RequestHandler)


if __name__ == "__main__":
    main()
