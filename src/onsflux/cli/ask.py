"""``onsflux ask`` and ``onsflux serve``: the answer service from the command line."""

from __future__ import annotations

from typing import Annotated

import typer

from .output import chart_for, console, emit_json, err_console


def register(app: typer.Typer) -> None:
    from ._common import friendly, settings

    @app.command("ask")
    @friendly
    def ask_cmd(
        question: Annotated[str, typer.Argument(help="A question in Portuguese or English.")],
        json: Annotated[bool, typer.Option("--json", help="The API's JSON response.")] = False,
    ) -> None:
        """Answer a question about the ingested data (same JSON as POST /query)."""
        from ..api.app import default_service

        service = default_service(settings())
        try:
            out = service.ask(question)
        finally:
            service.close()
        if json:
            emit_json(out)
            if out["status"] != "ok":  # the same exit code as the text mode (README)
                raise typer.Exit(4)
            return
        console.print(out["answer"], soft_wrap=True, markup=False, style="bold")
        console.print(f"status {out['status']} · confidence {out['confidence_score']} · "
                      f"{out['served_from'] or 'no query'} · {out['processing_time_ms']} ms",
                      style="dim", markup=False)
        for line in chart_for(out["time_series_data"]):
            console.print(f"  {line}", markup=False, highlight=False)
        for w in out["warnings"]:
            console.print(f"warning: {w}", style="yellow", markup=False)
        if out["query_used"]:
            console.print(f"{out['query_used']['dialect']}: {out['query_used']['text']}",
                          style="dim", soft_wrap=True, markup=False)
        for s in out["sources"][:5]:
            console.print(f"source: {s['document']} ({s['relevance_score']})", style="dim",
                          markup=False)
        if out["status"] != "ok":
            raise typer.Exit(4)

    @app.command("serve")
    @friendly
    def serve_cmd(
        host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port.")] = 8000,
    ) -> None:
        """Serve the HTTP API and the web page (uvicorn)."""
        import uvicorn

        from ..api import create_app

        s = settings()
        if s.api_auth != "disabled" and not s.api_keys:
            err_console.print("note: no ONSFLUX_API_KEYS set, so every request will get 401; "
                              "set keys, or ONSFLUX_API_AUTH=disabled for private local use")
        uvicorn.run(create_app(s), host=host, port=port, log_level="info")
