"""Serves the built portal (frontend/dist) at `/`. The portal routes with URL fragments (`/#/...`),
so every deep link loads `/` and no server-side fallback route is needed."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, send_from_directory
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import NotFound

from topicdesk.api.problems import problem_response

DEFAULT_DIST = Path(__file__).resolve().parents[3] / "frontend" / "dist"


def register_portal(app: Flask, dist: Path | None) -> None:
    directory = (dist or DEFAULT_DIST).resolve()
    portal = Blueprint("portal", __name__)

    @portal.get("/")
    def index() -> ResponseReturnValue:
        if not (directory / "index.html").exists():
            return problem_response(503, "Portal not built",
                                    f"the portal has not been built: run `make run` (or `npm run build` in "
                                    f"frontend/); looked in {directory}")
        response = send_from_directory(directory, "index.html")
        response.headers["Cache-Control"] = "no-cache"
        return response

    @portal.get("/assets/<path:path>")
    def assets(path: str) -> ResponseReturnValue:
        response = send_from_directory(directory / "assets", path)
        # Vite puts a content hash in every asset name, so an asset never changes.
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response

    @portal.get("/<name>")
    def top_level_file(name: str) -> ResponseReturnValue:
        # favicon.svg and the like; send_from_directory refuses anything outside the folder.
        if name.startswith(".") or not (directory / name).is_file():
            raise NotFound()
        return send_from_directory(directory, name)

    app.register_blueprint(portal)
