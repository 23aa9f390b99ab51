"""`casewise`: the root command and `serve`."""

from typing import Annotated

import typer

from app.cli import audit, db, demo, keys, logs, models, rules
from app.cli.console import err
from app.core.errors import CasewiseError

app = typer.Typer(help="Casewise: decision support for dynamic case management.", no_args_is_help=True)
app.add_typer(db.app, name="db")
app.add_typer(keys.app, name="keys")
app.add_typer(demo.app, name="demo")
app.add_typer(rules.app, name="rules")
app.add_typer(models.app, name="models")
app.add_typer(audit.app, name="audit")
app.command("import-log")(logs.import_log)
app.command()(models.train)
app.command()(models.evaluate)
app.command()(models.export)
app.command()(models.promote)
app.command()(models.rollback)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
) -> None:
    """Serve the API (OpenAPI at /docs)."""
    import uvicorn

    uvicorn.run("app.api.main:create_app", factory=True, host=host, port=port, workers=workers)


def main() -> None:
    """Entry point: a CasewiseError is a message and exit status 1, not a traceback."""
    try:
        app()
    except CasewiseError as exc:
        err.print(f"error: {exc.message}")
        for problem in exc.detail:
            err.print(f"  {problem['field']}: {problem['problem']}")
        raise SystemExit(1) from None
