"""The static token file (`--token-auth-file`): `token,user,uid,"group1,group2"` lines."""

from __future__ import annotations

import csv
from pathlib import Path

from minik8s.apiserver.authn.user import UserInfo


def load_token_file(path: str | Path) -> dict[str, UserInfo]:
    """Parse Kubernetes' token file; a malformed line is a ValueError naming it."""
    users: dict[str, UserInfo] = {}
    with open(path, newline="") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 3:
                raise ValueError(f'{path}:{line_no}: expected token,user,uid[,"groups"]')
            groups = tuple(g.strip() for g in (row[3].split(",") if len(row) > 3 else []) if g)
            users[row[0].strip()] = UserInfo(row[1].strip(), row[2].strip(), groups)
    return users


class TokenFileAuthenticator:
    """A token authenticator over the token file: one dict lookup per request."""

    name = "token-file"

    def __init__(self, users: dict[str, UserInfo]) -> None:
        self.users = users

    @classmethod
    def from_file(cls, path: str | Path) -> TokenFileAuthenticator:
        return cls(load_token_file(path))

    def authenticate_token(self, token: str) -> UserInfo | None:
        return self.users.get(token)
