"""Who is asking: a person from OIDC or a team's API token, with team memberships and roles."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    MEMBER = "member"
    OWNER = "owner"
    ADMIN = "admin"  # platform admin: sees and approves everything; not tied to one team


ROLE_RANK = {Role.MEMBER: 1, Role.OWNER: 2, Role.ADMIN: 3}


@dataclass(frozen=True)
class Identity:
    subject: str
    # team -> the caller's role in that team (member or owner)
    team_roles: dict[str, Role] = field(default_factory=dict)
    platform_admin: bool = False
    via: str = "token"  # "token" | "jwt" | "session"
    token_id: str | None = None

    @property
    def teams(self) -> list[str]:
        return sorted(self.team_roles)

    def is_member(self, team: str) -> bool:
        return self.platform_admin or team in self.team_roles

    def is_owner(self, team: str) -> bool:
        return self.platform_admin or self.team_roles.get(team) == Role.OWNER

    def roles(self) -> list[str]:
        listed = [f"{team}:{role.value}" for team, role in sorted(self.team_roles.items())]
        return [*listed, "platform_admin"] if self.platform_admin else listed

    def primary_team(self) -> str | None:
        return self.teams[0] if self.teams else None
