"""`casewise keys`: issue, list and revoke API keys."""

from typing import Annotated

import typer
from rich.table import Table

from app.auth import keys as key_service
from app.auth.roles import Role
from app.cli.console import err, out
from app.db.session import session_scope

app = typer.Typer(help="API keys: each carries one role.", no_args_is_help=True)



@app.command()
def create(
    role: Annotated[Role, typer.Option(help="what the key may do")],
    name: Annotated[str, typer.Option(help="who or what the key is for")],
) -> None:
    """Issue a key and print it once; only its hash is stored."""
    with session_scope() as session:
        row, key = key_service.create_key(session=session, name=name, role=role)
        session.commit()
    err.print(f"key {row.id} ({row.role}, {row.name!r}); store it now, it cannot be shown again:")
    typer.echo(key)


@app.command("list")
def list_() -> None:
    """Every key: id, name, role, prefix, created, revoked."""
    table = Table("id", "name", "role", "prefix", "created", "revoked")
    with session_scope() as session:
        for row in key_service.list_keys(session=session):
            table.add_row(str(row.id), row.name, row.role, row.prefix + "…", f"{row.created_at:%Y-%m-%d %H:%M}",
                          f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "")
    out.print(table)


@app.command()
def revoke(key_id: Annotated[int, typer.Argument(help="the key's id, from `casewise keys list`")]) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    with session_scope() as session:
        row = key_service.revoke_key(session=session, key_id=key_id)
        session.commit()
    err.print(f"key {row.id} ({row.name!r}) revoked")
