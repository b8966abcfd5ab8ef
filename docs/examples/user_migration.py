"""An Alembic migration for the user table of docs/examples/users_app.py."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from flask_rivo.users.models import UTCDateTime

# Exact comparison of addresses on MySQL and MariaDB, as on the others.
EMAIL = sa.String(254).with_variant(
    mysql.VARCHAR(254, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
)
# Passkey user handles are base64url: letter case matters.
HANDLE = sa.String(64).with_variant(
    mysql.VARCHAR(64, charset="ascii", collation="ascii_bin"), "mysql", "mariadb"
)


def upgrade() -> None:
    op.create_table(
        "user",
        sa.Column("id", sa.String(25), primary_key=True),  # your own key
        sa.Column("email", EMAIL, nullable=False),
        sa.Column("password_hash", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("verification_token_hash", sa.String(64), nullable=True),
        sa.Column("verification_created_at", UTCDateTime(), nullable=True),
        sa.Column("reset_token_hash", sa.String(64), nullable=True),
        sa.Column("reset_created_at", UTCDateTime(), nullable=True),
        sa.Column("pending_email", EMAIL, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("verified_at", UTCDateTime(), nullable=True),
        sa.Column("last_login_at", UTCDateTime(), nullable=True),
        sa.Column("totp_secret", sa.String(255), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("recovery_codes", sa.Text(), nullable=True),
        sa.Column("two_factor_since", UTCDateTime(), nullable=True),
        sa.Column("passkey_handle", HANDLE, nullable=True),
        sa.Column("passkeys", sa.Text(), nullable=True),
    )
    op.create_index("ix_user_email", "user", ["email"], unique=True)
    op.create_index("ix_user_passkey_handle", "user", ["passkey_handle"], unique=True)
    for column in ("verification_token_hash", "reset_token_hash"):
        op.create_index(f"ix_user_{column}", "user", [column])


def downgrade() -> None:
    op.drop_table("user")
