"""SQL implementations of the account ports (users and tokens), on SQLAlchemy Core.

Every method is one short transaction on its own pooled connection (see ``repos``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine, RowMapping

from pixvault.core.errors import Conflict
from pixvault.core.models import Credentials, User
from pixvault.metadata import rules, schema
from pixvault.metadata.engine import transaction
from pixvault.metadata.schema import tokens, users

_Row = RowMapping

EMAIL_UNIQUE = "uq_users_email"


def _constraint(error: exc.IntegrityError) -> str | None:
    """The violated constraint's name where the driver reports it (psycopg does; sqlite3
    does not, which is why ``create`` checks for the email first)."""
    diag = getattr(error.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    return name if isinstance(name, str) else None


def _user(row: _Row) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        is_admin=bool(row["is_admin"]),
        quota_used=int(row["quota_used"]),
        quota_limit=int(row["quota_limit"]),
        created_at=row["created_at"],
    )


class SqlUserRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(
        self, *, user_id: str, email: str, password_hash: str, quota_limit: int, now: datetime
    ) -> User:
        values: dict[str, Any] = {
            "id": user_id,
            "email": rules.normalize_email(email),
            "password_hash": password_hash,
            "quota_used": 0,
            "quota_limit": quota_limit,
            "created_at": rules.utc(now),
        }
        try:
            with transaction(self._engine, write=True) as conn:
                if conn.dialect.name == "postgresql":
                    # Serialise creations so two first users cannot both see an empty table
                    # (and two sign-ups of one email cannot both pass the check below).
                    conn.exec_driver_sql("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
                taken = sa.select(users.c.id).where(users.c.email == values["email"])
                if conn.execute(taken).first() is not None:
                    raise Conflict(rules.EMAIL_TAKEN)
                has_users = conn.execute(sa.select(sa.exists().select_from(users))).scalar()
                values["is_admin"] = not has_users
                conn.execute(users.insert().values(**values))
        except exc.IntegrityError as error:
            # Backstop for a writer that bypassed the lock: named by the constraint, never by
            # matching words in a driver's message.
            if _constraint(error) == EMAIL_UNIQUE:
                raise Conflict(rules.EMAIL_TAKEN) from error
            raise Conflict("User already exists") from error
        return User(
            id=user_id,
            email=values["email"],
            is_admin=values["is_admin"],
            quota_used=0,
            quota_limit=quota_limit,
            created_at=values["created_at"],
        )

    def get(self, user_id: str) -> User | None:
        with transaction(self._engine) as conn:
            row = conn.execute(users.select().where(users.c.id == user_id)).mappings().first()
        return _user(row) if row else None

    def get_credentials(self, email: str) -> Credentials | None:
        query = users.select().where(users.c.email == rules.normalize_email(email))
        with transaction(self._engine) as conn:
            row = conn.execute(query).mappings().first()
        return Credentials(user=_user(row), password_hash=row["password_hash"]) if row else None

    def reserve_quota(
        self,
        user_id: str,
        nbytes: int,
        *,
        reservation: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        rules.check_amount(nbytes)
        if nbytes == 0:
            return True
        # Lazy: a reservation lost in a power cut leaves at most bytes without a row (the
        # repair pass deletes them); the rows' durable commit flushes this one first.
        with transaction(self._engine, write=True, lazy_commit=reservation is not None) as conn:
            if conn.execute(_RESERVE, {"user_id": user_id, "nbytes": nbytes}).rowcount != 1:
                return False
            if reservation is not None:
                row = {
                    "id": reservation,
                    "owner_id": user_id,
                    "nbytes": nbytes,
                    "created_at": now or datetime.now(UTC),
                }
                conn.execute(_HOLD, row)
            return True

    def release_quota(self, user_id: str, nbytes: int, *, reservation: str | None = None) -> None:
        rules.check_amount(nbytes)
        with transaction(self._engine, write=True) as conn:
            if reservation is not None:
                gone = conn.execute(
                    schema.quota_reservations.delete().where(
                        schema.quota_reservations.c.id == reservation
                    )
                ).rowcount
                if gone == 0:
                    return  # a repair pass already gave it back
            release_quota(conn, user_id, nbytes)

    def set_quota(self, user_id: str, limit: int) -> None:
        with transaction(self._engine, write=True) as conn:
            conn.execute(users.update().where(users.c.id == user_id).values(quota_limit=limit))

    def set_admin(self, user_id: str, is_admin: bool) -> None:
        with transaction(self._engine, write=True) as conn:
            conn.execute(users.update().where(users.c.id == user_id).values(is_admin=is_admin))


# Built once: making these per upload (the expressions and their cache keys) cost more Python
# time than the statements themselves (issue 10's profile).
_RESERVE = (
    users.update()
    .where(
        users.c.id == sa.bindparam("user_id"),
        users.c.quota_used + sa.bindparam("nbytes", type_=sa.BigInteger) <= users.c.quota_limit,
    )
    .values(quota_used=users.c.quota_used + sa.bindparam("nbytes", type_=sa.BigInteger))
)
_HOLD = schema.quota_reservations.insert()


def release_quota(conn: Connection, user_id: str, nbytes: int) -> None:
    """Give back ``nbytes``, never going below zero."""
    used = users.c.quota_used
    conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(quota_used=sa.case((used > nbytes, used - nbytes), else_=0))
    )


class SqlTokenRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(
        self, *, token_hash: str, user_id: str, created_at: datetime, expires_at: datetime
    ) -> None:
        values = {
            "token_hash": token_hash,
            "user_id": user_id,
            "created_at": rules.utc(created_at),
            "expires_at": rules.utc(expires_at),
        }
        try:
            with transaction(self._engine, write=True) as conn:
                conn.execute(tokens.insert().values(**values))
        except exc.IntegrityError as error:
            raise Conflict("Token already exists or user is missing") from error

    def user_for(self, token_hash: str, now: datetime) -> User | None:
        query = (
            sa.select(users)
            .join(tokens, tokens.c.user_id == users.c.id)
            .where(
                tokens.c.token_hash == token_hash,
                tokens.c.revoked_at.is_(None),
                tokens.c.expires_at > rules.utc(now),
            )
        )
        with transaction(self._engine) as conn:
            row = conn.execute(query).mappings().first()
        return _user(row) if row else None

    def revoke(self, token_hash: str) -> None:
        query = (
            tokens.update()
            .where(tokens.c.token_hash == token_hash, tokens.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        with transaction(self._engine, write=True) as conn:
            conn.execute(query)
