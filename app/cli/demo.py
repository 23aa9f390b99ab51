"""`casewise demo`: a working demo on a fresh machine, with none of the user's data."""

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import track

from app.cli.console import err
from app.core.config import get_settings
from app.db.session import session_scope
from app.demo.claims import generate_claims
from app.demo.seed import holds_cases, rotate_demo_key, store_demo_case

app = typer.Typer(help="The motor-claims demo.", no_args_is_help=True)



@app.command()
def seed(
    cases: Annotated[int, typer.Option(min=1, help="claims to generate")] = 3000,
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same claims")] = 7,
    if_empty: Annotated[bool, typer.Option("--if-empty", help="do nothing when the database holds cases")] = False,
) -> None:
    """Generate motor-insurance claims with their histories and store them (idempotent)."""
    settings = get_settings()
    with session_scope() as session:
        if if_empty and holds_cases(session=session):
            err.print("the database already holds cases; demo not seeded")
            return
        stored = 0
        for demo in track(generate_claims(cases, seed), total=cases, description="seeding claims", console=err):
            stored += store_demo_case(session=session, demo=demo, max_history=settings.max_history_events)
        session.commit()
    err.print(f"{cases} claims, {stored} new events")


@app.command()
def decide(
    count: Annotated[int, typer.Option(min=1, help="open claims to suggest for and decide on")] = 300,
    seed: Annotated[int, typer.Option(help="random seed of the simulated workers")] = 7,
) -> None:
    """Simulated case workers ask for suggestions on open demo claims and accept, override or dismiss them."""
    from app.demo.decisions import simulate_decisions
    from app.recommend.service import Recommender

    recommender = Recommender.for_settings(get_settings())
    with session_scope() as session:
        result = simulate_decisions(session=session, recommender=recommender, case_type="motor_claim", count=count,
                                    seed=seed)
        session.commit()
    err.print(f"{result.suggestions} suggestions; decisions: "
              + ", ".join(f"{n} {outcome}" for outcome, n in result.decisions.items()))


@app.command()
def key(
    file: Annotated[Path, typer.Option(help="where to save the key for the README's examples")] = Path("var/demo-key"),
) -> None:
    """Issue a fresh admin key named 'demo' (revoking the last one), print it and save it to FILE."""
    with session_scope() as session:
        demo_key = rotate_demo_key(session=session)
        session.commit()
    file.parent.mkdir(parents=True, exist_ok=True)
    file.touch(mode=0o600)
    file.write_text(demo_key + "\n")
    os.chmod(file, 0o600)
    err.print(f"demo admin key (saved to {file}):")
    typer.echo(demo_key)
