"""The ``rivo_users`` blueprint: one thin view per step of each workflow.

Each module registers the views of one workflow on :data:`bp`; importing
them here is what puts their routes on the blueprint.
"""

from __future__ import annotations

from . import change as change
from . import closing as closing
from . import login as login
from . import passkey_login as passkey_login
from . import passkeys as passkeys
from . import reauth as reauth
from . import recovery as recovery
from . import sessions as sessions
from . import signup as signup
from . import two_factor as two_factor
from .base import bp as bp
