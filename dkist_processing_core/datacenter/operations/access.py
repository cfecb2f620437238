"""Who may do what on the status pages: users with roles, and the PIs' proposal links.

A *user* signs in with a name and a password; the store keeps only a salted
scrypt hash (``scrypt$n$r$p$salt$hash``, hex). Roles are ``operator`` (retry or
adjust tickets, boost, cancel or requeue runs, publish) and ``curator`` (keep or
discard dataset versions); reading needs no role.

A *proposal link* is a random token (256 bits, URL-safe) that opens the
read-only page of one proposal for its PI. It is looked up, never derived: a
token that was not issued (a guessed one, or one with a character changed)
names no proposal. A link can be revoked; a new one can then be issued.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dkist_processing_core.datacenter.clock import Clock, SystemClock
from dkist_processing_core.datacenter.store.models import Proposal, ProposalLink, WebUser

OPERATOR = "operator"
CURATOR = "curator"
ROLES = (OPERATOR, CURATOR)

# scrypt cost: 2**14 x 8 x 1 takes ~16 MiB and a few tens of ms per check.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_MIN_PASSWORD = 8


class AccessError(ValueError):
    """A user or link operation that is not possible (unknown role, short password, ...)."""


@dataclass(frozen=True)
class User:
    """A signed-in user: the name and the roles (never the hash)."""

    name: str
    roles: frozenset[str]

    def has(self, role: str) -> bool:
        return role in self.roles


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``, with its parameters, as one string."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the stored hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        found = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(digest) // 2,
        )
    except ValueError:
        return False
    return hmac.compare_digest(found.hex(), digest)


def _roles(roles) -> str:
    chosen = sorted({r.strip().lower() for r in roles if r.strip()})
    unknown = [r for r in chosen if r not in ROLES]
    if unknown:
        raise AccessError(f"role(s) {unknown}: expected one of {list(ROLES)}")
    return " ".join(chosen)


def add_user(
    session: Session,
    name: str,
    password: str,
    roles=(),
    *,
    replace: bool = False,
    clock: Clock | None = None,
) -> User:
    """Create a user (or, with ``replace``, set a new password and roles for an existing one)."""
    name = name.strip()
    if not name:
        raise AccessError("a user needs a name")
    if len(password) < _MIN_PASSWORD:
        raise AccessError(f"user {name}: the password needs at least {_MIN_PASSWORD} characters")
    role_text = _roles(roles)
    row = session.get(WebUser, name)
    if row is not None and not replace:
        raise AccessError(f"user {name} exists already (use replace to change it)")
    if row is None:
        row = WebUser(name=name, created_at=(clock or SystemClock()).now())
        session.add(row)
    row.password_hash = hash_password(password)
    row.roles = role_text
    row.disabled_at = None
    session.flush()
    return User(name, frozenset(role_text.split()))


def disable_user(session: Session, name: str, *, clock: Clock | None = None) -> None:
    """The user can no longer sign in (the row is kept: actions name who did them)."""
    row = session.get(WebUser, name)
    if row is None:
        raise AccessError(f"user {name} does not exist")
    row.disabled_at = (clock or SystemClock()).now()


def list_users(session: Session) -> list[dict]:
    return [
        {
            "name": u.name,
            "roles": u.roles.split(),
            "created_at": u.created_at.isoformat(),
            "disabled": u.disabled_at is not None,
        }
        for u in session.scalars(select(WebUser).order_by(WebUser.name))
    ]


def authenticate(session: Session, name: str, password: str) -> User | None:
    """The user if the name and password match an enabled user, else None."""
    row = session.get(WebUser, name or "")
    if row is None:
        # Spend the same time as a real check, so that timing does not tell which names exist.
        check_password(password, _DUMMY_HASH)
        return None
    if not check_password(password, row.password_hash) or row.disabled_at is not None:
        return None
    return User(row.name, frozenset(row.roles.split()))


def get_user(session: Session, name: str) -> User | None:
    """An enabled user by name (to refresh the roles of a signed-in session)."""
    row = session.get(WebUser, name or "")
    if row is None or row.disabled_at is not None:
        return None
    return User(row.name, frozenset(row.roles.split()))


def proposal_link(session: Session, proposal_id: str, *, clock: Clock | None = None) -> str:
    """The PI's link token of a proposal, issued on first use."""
    if session.get(Proposal, proposal_id) is None:
        raise AccessError(f"proposal {proposal_id!r} does not exist")
    token = session.scalar(
        select(ProposalLink.token).where(
            ProposalLink.proposal_id == proposal_id, ProposalLink.revoked_at.is_(None)
        )
    )
    if token is None:
        token = secrets.token_urlsafe(32)
        session.add(
            ProposalLink(
                token=token, proposal_id=proposal_id, created_at=(clock or SystemClock()).now()
            )
        )
        session.flush()
    return token


def revoke_proposal_link(session: Session, proposal_id: str, *, clock: Clock | None = None) -> int:
    """Revoke the proposal's links; return how many were revoked."""
    now = (clock or SystemClock()).now()
    rows = session.scalars(
        select(ProposalLink).where(
            ProposalLink.proposal_id == proposal_id, ProposalLink.revoked_at.is_(None)
        )
    ).all()
    for row in rows:
        row.revoked_at = now
    return len(rows)


def proposal_for_link(session: Session, token: str) -> str | None:
    """The proposal a link token opens, or None for a token that was never issued or is revoked."""
    if not token or len(token) > 64:
        return None
    row = session.get(ProposalLink, token)
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token, token):
        return None
    return row.proposal_id


_DUMMY_HASH = (
    f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${'00' * 16}${'00' * 32}"  # matches no password
)
