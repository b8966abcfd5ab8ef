"""flask_rivo's own translations: gettext for pages, emails and messages.

flask_rivo ships its catalogs under ``flask_rivo/translations`` in the
gettext domain ``flask_rivo``, apart from the application's own ``messages``
domain, so an application's catalogs and ours never mix. Flask-Babel (the
``babel`` extra) chooses the language; without it every string is English.

Python code marks strings with :func:`gettext` (``_``) or, at import time
(form labels, validator messages), :func:`lazy_gettext`; templates with
``{{ _("...") }}`` and ``{% trans %}`` blocks, which :func:`install` wires to
these functions.
"""

from __future__ import annotations

import functools
import importlib
import typing as t
from pathlib import Path

from babel import Locale
from babel.support import LazyProxy
from babel.support import NullTranslations
from babel.support import Translations
from flask import current_app
from flask import has_app_context

if t.TYPE_CHECKING:
    from flask import Flask

#: The gettext domain of flask_rivo's catalogs.
DOMAIN = "flask_rivo"
#: Where the compiled catalogs live: ``<locale>/LC_MESSAGES/flask_rivo.mo``.
TRANSLATIONS = Path(__file__).parent / "translations"
#: The language without Flask-Babel (or outside a request).
DEFAULT_LOCALE = "en"


def locale() -> Locale:
    """The language of the current page: Flask-Babel's choice, else English.

    Flask-Babel is optional (the ``babel`` extra), so it is looked up, not
    imported.
    """
    if has_app_context() and "babel" in current_app.extensions:
        try:
            flask_babel = importlib.import_module("flask_babel")
        except ImportError:  # pragma: no cover - the extension implies the package
            pass
        else:
            chosen = flask_babel.get_locale()
            if chosen is not None:
                return Locale.parse(chosen)
    return Locale.parse(DEFAULT_LOCALE)


@functools.cache
def _catalog(tag: str) -> NullTranslations:
    """The compiled catalog for a language (read once), or no translation."""
    return Translations.load(str(TRANSLATIONS), [tag], domain=DOMAIN)


def translations() -> NullTranslations:
    """The catalog of the current page's language."""
    return _catalog(str(locale()))


def gettext(message: str, **variables: t.Any) -> str:
    """``message`` in the page's language, with ``%(name)s`` filled in."""
    text = translations().ugettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, **variables: t.Any) -> str:
    """The singular or plural form for ``num`` (``%(num)d`` is available)."""
    variables.setdefault("num", num)
    return translations().ungettext(singular, plural, num) % variables


def pgettext(context: str, message: str, **variables: t.Any) -> str:
    """:func:`gettext` with a context, for a word with two meanings."""
    text = translations().upgettext(context, message)
    return text % variables if variables else text


def lazy_gettext(message: str, **variables: t.Any) -> LazyProxy:
    """:func:`gettext` deferred to when the string is used (in a request).

    For strings made at import time: form labels, validator messages.
    """
    return LazyProxy(gettext, message, enable_cache=False, **variables)


#: The names templates use, bound to flask_rivo's own catalogs.
TEMPLATE_CALLABLES: dict[str, t.Callable[..., str]] = {
    "_": gettext,
    "gettext": gettext,
    "ngettext": ngettext,
    "pgettext": pgettext,
}


def install(app: Flask) -> None:
    """Let flask_rivo's templates use ``_()`` and ``{% trans %}``.

    Adds Jinja's i18n extension (new-style: ``%(name)s`` placeholders are
    filled by the call) when the application has not.
    """
    if "jinja2.ext.InternationalizationExtension" not in app.jinja_env.extensions:
        app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.newstyle_gettext = True  # type: ignore[attr-defined]
    for name, function in TEMPLATE_CALLABLES.items():
        app.jinja_env.globals.setdefault(name, function)
