"""`casewise audit`: verify the ledger's hash chain."""

import typer

from app.audit import ledger
from app.cli.console import err, out
from app.db.session import session_scope

app = typer.Typer(help="The audit ledger.", no_args_is_help=True)


@app.command()
def verify() -> None:
    """Walk the ledger's hash chain; exit 1 and name the first bad entry when any was edited, deleted, inserted
    or reordered."""
    with session_scope() as session:
        result = ledger.verify(session=session)
    if result.ok:
        out.print(f"ledger intact: {result.entries:,} entries")
        return
    err.print(f"[red]ledger broken at entry {result.first_bad}: {result.problem}[/]")
    raise typer.Exit(1)
