"""`casewise db`: the schema under Alembic."""

import typer

from app.core.config import get_settings
from app.db import schema

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="target migration")) -> None:
    """Migrate the configured database (CASEWISE_DATABASE_URL) to the newest schema."""
    schema.upgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")
