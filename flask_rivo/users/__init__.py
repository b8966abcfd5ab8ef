"""User accounts: RivoUsers, the user model mixin, and who is logged in."""

from __future__ import annotations

from .auth import confirm_login as confirm_login
from .auth import current_user as current_user
from .auth import fresh_login_required as fresh_login_required
from .auth import is_fresh as is_fresh
from .auth import login_required as login_required
from .auth import login_user as login_user
from .auth import logout_user as logout_user
from .auth import safe_next as safe_next
from .extension import RivoUsers as RivoUsers
from .forms import normalize_email as normalize_email
from .models import AnonymousUser as AnonymousUser
from .models import UserMixin as UserMixin
from .models import UserState as UserState
from .models import UserStore as UserStore
from .passwords import PasswordProblem as PasswordProblem
from .passwords import reasonable_password as reasonable_password
