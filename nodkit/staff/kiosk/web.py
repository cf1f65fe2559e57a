"""The kiosk's Flask front: routes, the loopback/CSRF/no-store guards, the server.

Flask and its Werkzeug server: a well-kept library, no JavaScript build step,
templates and CSS shipped in the package (no external assets, works offline).
The pages need no JavaScript at all; the job screen refreshes itself with a
meta refresh while the job is on its way.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from flask import Flask, Response, abort, g, make_response, redirect, render_template, request, url_for

from nodkit.errors import NodkitError, PrintError
from nodkit.lists import values
from nodkit.printing import spooler

log = logging.getLogger(__name__)


def create_app(kiosk) -> Flask:
    from nodkit.staff.kiosk import COOKIE, is_loopback, label_of
    app = Flask(__name__, template_folder="templates", static_folder="static")
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024)
    config = kiosk.config

    @app.before_request
    def guard():
        peer = request.remote_addr or ""
        if not is_loopback(peer):
            log.warning("kiosk: refused a request from %s (not loopback)", peer)
            abort(403, "Kun fra denne pc.")
        host = (request.host or "").rsplit(":", 1)[0] if not (request.host or "").startswith("[") \
            else (request.host or "").split("]")[0] + "]"
        if not is_loopback(host):
            abort(403, "Kun fra denne pc.")
        g.sid, g.session = kiosk.session(request.cookies.get(COOKIE))
        if request.method == "POST":
            token = request.form.get("csrf", "")
            if not secrets.compare_digest(token, g.session.csrf):
                abort(403, "Siden er for gammel. Gå tilbage til forsiden, og prøv igen.")

    @app.after_request
    def headers(resp: Response) -> Response:
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["Pragma"] = "no-cache"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'self'; img-src 'self'; "
                                                   "form-action 'self'; frame-ancestors 'none'")
        if getattr(g, "sid", None):
            resp.set_cookie(COOKIE, g.sid, httponly=True, samesite="Strict", path="/")
        return resp

    @app.errorhandler(403)
    def forbidden(exc):
        return make_response(render_template("error.html", message=exc.description, **common(banner=False)), 403)

    def common(banner: bool = True) -> dict:
        return {"kit": config.name, "banner": kiosk.freshness() if banner else None,
                "csrf": getattr(g, "session", None).csrf if getattr(g, "session", None) else "",
                "cannot_print": kiosk.cannot_print(), "store": str(config.store)}

    def moment(iso: str | None) -> str:
        if not iso:
            return "ukendt"
        return values.danish_moment(dt.datetime.fromisoformat(iso).astimezone(config.timezone))

    def failure(exc: NodkitError, status: int = 200):
        return make_response(render_template("error.html", message=str(exc), **common()), status)

    def pick(set_id: str, audience: str, unit: str, number: int):
        export_set = kiosk.export_set(set_id)
        options = kiosk.choices(export_set, audience, unit)
        if not 0 <= number < len(options):
            abort(404)
        return export_set, options[number]

    # ---------------------------------------------------------- screen 1: units
    @app.get("/")
    def home():
        query = request.args.get("q", "")
        try:
            groups = [] if kiosk.cannot_print() else kiosk.tiles(query)
        except NodkitError as exc:
            return failure(exc)
        return render_template("units.html", groups=groups, query=query, **common())

    # ---------------------------------------------------------- screen 2: binder, then lists
    @app.get("/enhed/<audience>/<unit>")
    def unit_page(audience: str, unit: str):
        try:
            export_set = kiosk.export_set()
            options = kiosk.choices(export_set, audience, unit)
        except NodkitError as exc:
            return failure(exc)
        rows = [{"number": i, "label": label_of(c), "pages": c.pages, "binder": c.files[0].template == spooler.BINDER,
                 "as_of": moment(min((f.as_of for f in c.files if f.as_of), default=None))}
                for i, c in enumerate(options)]
        return render_template("lists.html", audience=audience, audience_title=kiosk.audience_titles.get(audience, audience),
                               unit=unit, rows=rows, set_id=export_set.id, printer=kiosk.printer_problem(), **common())

    # ---------------------------------------------------------- screen 3: password, copies, preview
    def choice_page(set_id, audience, unit, number, *, error=None, status=200):
        export_set, choice = pick(set_id, audience, unit, number)
        unlocked = kiosk.unlocked_for(g.session, export_set, audience, unit)
        maximum = min(config.printer.max_copies, 10)
        resp = make_response(render_template(
            "choice.html", audience=audience, audience_title=kiosk.audience_titles.get(audience, audience), unit=unit,
            number=number, set_id=set_id, label=label_of(choice), pages=choice.pages,
            as_of=moment(min((f.as_of for f in choice.files if f.as_of), default=None)),
            opens=kiosk.opens(audience), unlocked=unlocked is not None, error=error,
            copies=list(range(1, maximum + 1)), default_copies=min(config.printer.copies, maximum),
            printer=kiosk.printer_problem(), wait=kiosk.wait_seconds(), **common()), status)
        return resp

    @app.get("/valg/<set_id>/<audience>/<unit>/<int:number>")
    def choice_get(set_id, audience, unit, number):
        try:
            return choice_page(set_id, audience, unit, number)
        except NodkitError as exc:
            return failure(exc)

    @app.post("/valg/<set_id>/<audience>/<unit>/<int:number>")
    def choice_post(set_id, audience, unit, number):
        if kiosk.cannot_print():
            return failure(PrintError(kiosk.cannot_print()))
        try:
            export_set, choice = pick(set_id, audience, unit, number)
            session = g.session
            password = request.form.get("password", "")
            unlocked = kiosk.unlocked_for(session, export_set, audience, unit)
            if password or unlocked is None:
                problem = kiosk.try_password(session, export_set, audience, unit, password)
                del password
                if problem:
                    return choice_page(set_id, audience, unit, number, error=problem,
                                       status=429 if kiosk.wait_seconds() else 200)
            action = request.form.get("handling", "vis")
            if action == "udskriv":
                try:
                    copies = int(request.form.get("copies", config.printer.copies))
                except ValueError:
                    copies = 0
                if not 1 <= copies <= config.printer.max_copies:
                    return choice_page(set_id, audience, unit, number,
                                       error=f"Vælg mellem 1 og {config.printer.max_copies} kopier.")
                token = kiosk.start_print(session, export_set, choice, copies)
                return redirect(url_for("job_page", token=token), 303)
            if action == "ovelse":
                token = kiosk.start_drill(session, export_set, unit, audience)
                session.unlocked = None
                return redirect(url_for("job_page", token=token), 303)
            return redirect(url_for("choice_get", set_id=set_id, audience=audience, unit=unit, number=number), 303)
        except NodkitError as exc:
            return failure(exc)

    @app.get("/forside-billede/<set_id>/<audience>/<unit>/<int:number>.png")
    def preview(set_id, audience, unit, number):
        try:
            export_set, choice = pick(set_id, audience, unit, number)
            unlocked = kiosk.unlocked_for(g.session, export_set, audience, unit)
            if unlocked is None:
                abort(403, "Skriv adgangskoden igen (siden har været ubrugt i 2 minutter).")
            return Response(kiosk.preview(export_set, choice, unlocked), mimetype="image/png")
        except NodkitError as exc:
            return failure(exc)

    # ---------------------------------------------------------- screen 4: the job
    @app.get("/job/<token>")
    def job_page(token):
        view = g.session.jobs.get(token)
        if view is None:
            abort(404)
        return render_template("job.html", job=view, **common())

    # ---------------------------------------------------------- IT
    @app.get("/it")
    def it_page():
        from nodkit.monitoring.status import kit_status
        status = kit_status(config)
        return render_template("it.html", status=status, data=status.to_dict(),
                               printer_state=kiosk.printer_problem() or "ready", **common())

    return app


def serve(kiosk, host: str = "127.0.0.1", port: int = 8631):
    """Run the kiosk until interrupted (threaded: a job screen refreshing does not block a click)."""
    from werkzeug.serving import make_server
    server = make_server(host, port, create_app(kiosk), threaded=True)
    log.info("kiosk on http://%s:%d/", host, server.server_port)
    return server
