"""Every curl example in the README answers the status its comment promises, against a real server."""

import re
import shlex
import subprocess
from pathlib import Path

from app.auth.roles import Role
from app.db.schema import upgrade
from app.db.session import create_db_engine, session_factory
from app.demo.claims import generate_claims
from app.demo.seed import store_demo_case
from tests.live import committed_key, serving

README = Path(__file__).parents[1] / "README.md"
README_BASE = "http://127.0.0.1:8000"


def readme_examples() -> list[tuple[str, list[int]]]:
    """(command, acceptable statuses) for each curl call of the 'Try it' section, in order."""
    section = README.read_text().split("## Try it", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    examples, expected = [], []
    command = ""
    for line in block.splitlines():
        if not command and line.startswith("#"):
            expected = [int(code) for code in re.findall(r"\b([1-5]\d\d)\b", line.split("->", 1)[-1])]
        elif line.strip():
            command += line + "\n"
            if not line.endswith("\\") and _complete(command):
                examples.append((command.strip(), expected))
                command = ""
    return examples


def _complete(command: str) -> bool:
    try:
        shlex.split(command)
    except ValueError:  # an open quote: the command goes on on the next line
        return False
    return True


def test_the_readme_has_examples():
    examples = readme_examples()
    assert len(examples) >= 8
    assert all(statuses for _, statuses in examples)


def test_readme_examples_answer_as_documented(tmp_path):
    url = f"sqlite:///{tmp_path / 'readme.db'}"
    upgrade(url)
    engine = create_db_engine(url)
    with session_factory(engine)() as session:
        for demo in generate_claims(100):
            store_demo_case(session=session, demo=demo, max_history=10_000)
        session.commit()
    key = committed_key(engine, Role.ADMIN)["Authorization"].removeprefix("Bearer ")
    engine.dispose()
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "demo-key").write_text(key + "\n")
    with serving(url) as base:
        for command, statuses in readme_examples():
            probe = command.replace(README_BASE, base) + " -o /dev/null -w '%{http_code}'"
            result = subprocess.run(["bash", "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=30)
            assert result.returncode == 0, (command, result.stderr)
            assert int(result.stdout) in statuses, (command, result.stdout)
