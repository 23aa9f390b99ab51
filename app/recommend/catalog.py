"""The action catalog of a case type: declared in its ruleset, or derived from history when absent."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from app.rules.model import Action, Ruleset


@dataclass(frozen=True)
class Catalog:
    """The actions a case worker can take on a case type, and where the list came from."""

    case_type: str
    actions: tuple[Action, ...]
    source: Literal["ruleset", "history"]

    @property
    def labels(self) -> dict[str, str]:
        return {action.id: action.label for action in self.actions}

    def unknown(self, seen: Iterable[str]) -> list[str]:
        """Actions seen in history that the catalog does not list: reported, never dropped."""
        known = {action.id for action in self.actions}
        return sorted({action for action in seen if action not in known})


def catalog_for(case_type: str, ruleset: Ruleset | None, seen: Iterable[str] = ()) -> Catalog:
    """The ruleset's catalog when it declares one; otherwise every action seen in history, by name."""
    if ruleset is not None and ruleset.actions:
        return Catalog(case_type, ruleset.actions, "ruleset")
    return Catalog(case_type, tuple(Action(action, action) for action in sorted(set(seen))), "history")
