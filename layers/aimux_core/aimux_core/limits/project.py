"""What a project is: its name, limits and budgets, and the store item that holds it.

    pk ``projects``   sk ``<name>``   description, rpm, tpm, budget_daily_usd, budget_monthly_usd,
                                      created_at, updated_at

All projects share one partition, so the whole directory is one ``Query`` (``directory.py``). A project's
rate windows are ``rate#project#<name>`` items and its spend ``spend#project:<name>``: the key's own
items with another scope (``state/ratelimit.py``, ``state/spend.py``), so a project budget is held and
settled exactly like a key's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidRequest, NotFound
from ..state.store import Item, Store

__all__ = [
    "PROJECTS_PK",
    "PROJECT_RANGE",
    "Project",
    "budget_scope",
    "check_name",
    "not_found",
    "read_project",
]

PROJECTS_PK = "projects"
PROJECT_RANGE = ("0", "z~")  # every valid name (letters, digits, then . _ -) sorts in between
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
SCOPE_PREFIX = "project:"


def check_name(name: Any, field: str = "name") -> str:
    """A project name: 1-63 letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidRequest(
            f"{field}: a project name is 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit",
            param=field,
        )
    return name


def budget_scope(name: str) -> str:
    """The scope of a project's spend and holds (``spend#project:<name>``); never a key id (``key_...``)."""
    return SCOPE_PREFIX + name


def not_found(name: str) -> NotFound:
    return NotFound(f"no project named {name!r}", param="project")


@dataclass(frozen=True, slots=True)
class Project:
    """One project. Limits left as None are unlimited; ``version`` is the record's store version."""

    name: str
    created_at: float
    description: str = ""
    rpm: int | None = None
    tpm: int | None = None
    budget_daily_usd: float | None = None
    budget_monthly_usd: float | None = None
    updated_at: float | None = None
    version: int = 0

    @property
    def scope(self) -> str:
        return budget_scope(self.name)

    @property
    def limited(self) -> bool:
        """Whether anything about it is enforced (otherwise it is a label with a name)."""
        limits = (self.rpm, self.tpm, self.budget_daily_usd, self.budget_monthly_usd)
        return any(limit is not None for limit in limits)

    def to_item(self) -> Item:
        return {
            "kind": "project",
            "name": self.name,
            "description": self.description,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "budget_daily_usd": self.budget_daily_usd,
            "budget_monthly_usd": self.budget_monthly_usd,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_item(cls, item: Item) -> Project:
        return cls(
            name=str(item["sk"]),
            created_at=float(item.get("created_at") or 0.0),
            description=str(item.get("description") or ""),
            rpm=item.get("rpm"),
            tpm=item.get("tpm"),
            budget_daily_usd=_dollars(item.get("budget_daily_usd")),
            budget_monthly_usd=_dollars(item.get("budget_monthly_usd")),
            updated_at=item.get("updated_at"),
            version=int(item.get("version", 0)),
        )

    def public(self) -> dict[str, Any]:
        """The fields every view shows (the item's, without its kind)."""
        return {name: value for name, value in self.to_item().items() if name != "kind"}


async def read_project(store: Store, name: str) -> Project | None:
    """The project named ``name`` fresh from the store (one read), None when there is none."""
    item = await store.get(PROJECTS_PK, name)
    return Project.from_item(item) if item is not None else None


def _dollars(value: int | float | None) -> float | None:
    return None if value is None else float(value)
