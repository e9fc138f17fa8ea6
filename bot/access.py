"""Who is acting (an official, the command line, the system) and what they may see.

An :class:`Actor` is what every official action takes: the web inbox builds
one from the logged-in official, the messenger relay from a linked account,
the CLI and the engine use :data:`CLI` and :data:`SYSTEM`. The rule is
DESIGN.md's: an official sees and acts only on their own department; a town
admin (and the command line, run by whoever runs the server) sees all.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import NotAllowed

__all__ = ["CLI", "SYSTEM", "Actor"]

_EVERYWHERE = ("admin", "cli", "system")


@dataclass(frozen=True, slots=True)
class Actor:
    """An official (``official_id`` set) or the command line / the system (``official_id`` None)."""

    official_id: int | None
    username: str
    name: str
    department: str | None
    role: str

    @property
    def everywhere(self) -> bool:
        """A town admin, the command line or the system: every department."""
        return self.role in _EVERYWHERE

    def sees(self, department: str | None) -> bool:
        """Whether this actor may see (and act on) what belongs to ``department``."""
        return self.everywhere or (department is not None and department == self.department)

    def may(self, *roles: str) -> bool:
        """Whether this actor has one of ``roles`` (a town admin, the CLI and the system have them all)."""
        return self.everywhere or self.role in roles

    def require(self, *roles: str) -> None:
        """Raise :class:`NotAllowed` unless this actor has one of ``roles``."""
        if not self.may(*roles):
            raise NotAllowed(f"{self.username} ({self.role}) may not do this; it needs the role {' or '.join(roles)}")


CLI = Actor(official_id=None, username="cli", name="command line", department=None, role="cli")
"""The ``plaza`` command, run by whoever runs the server."""

SYSTEM = Actor(official_id=None, username="system", name="Plaza", department=None, role="system")
"""Plaza itself (a failing flow handing a conversation over, a scheduled job)."""
