"""flask_rivo: secure server-side sessions and user accounts for Flask."""

from __future__ import annotations

from .exceptions import ConfigError as ConfigError
from .exceptions import RivoError as RivoError
from .exceptions import StoreError as StoreError
from .exceptions import StoreUnavailable as StoreUnavailable
from .ids import cuid as cuid
from .ids import random_id as random_id
from .interface import RivoSessionInterface as RivoSessionInterface
from .session import RivoSession as RivoSession
from .sessions import RivoSessions as RivoSessions
from .sessions import SessionInfo as SessionInfo
from .users import PasswordProblem as PasswordProblem
from .users import RivoUsers as RivoUsers
from .users import UserMixin as UserMixin
from .users import current_user as current_user
from .users import fresh_login_required as fresh_login_required
from .users import login_required as login_required
from .users import login_user as login_user
from .users import logout_user as logout_user
from .users import reasonable_password as reasonable_password

__version__ = "0.1.0.dev0"
