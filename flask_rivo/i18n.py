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
from jinja2 import pass_context
from markupsafe import Markup

if t.TYPE_CHECKING:
    from flask import Flask
    from jinja2.runtime import Context

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


def _fill(context: Context, text: str, variables: dict[str, t.Any]) -> str:
    """A translation for a template, as Jinja's new-style gettext makes it:
    in an autoescaped template the translation is markup (a ``{% trans %}``
    block holds HTML such as ``<strong>``) and the variables filled into it
    are escaped, so an address shows as text and the tags as tags. As with
    Jinja's own, the text is always formatted: a literal ``%`` in ``_()`` is
    written ``%%`` (``{% trans %}`` blocks do that by themselves)."""
    if context.eval_ctx.autoescape:
        return Markup(text) % variables  # noqa: S704 (our catalog, not input)
    return text % variables


@pass_context
def _template_gettext(context: Context, message: str, **variables: t.Any) -> str:
    return _fill(context, translations().ugettext(message), variables)


@pass_context
def _template_ngettext(
    context: Context, singular: str, plural: str, num: int, **variables: t.Any
) -> str:
    variables.setdefault("num", num)
    text = translations().ungettext(singular, plural, num)
    return _fill(context, text, variables)


@pass_context
def _template_pgettext(
    context: Context, message_context: str, message: str, **variables: t.Any
) -> str:
    text = translations().upgettext(message_context, message)
    return _fill(context, text, variables)


#: The names templates use, bound to flask_rivo's own catalogs.
TEMPLATE_CALLABLES: dict[str, t.Callable[..., str]] = {
    "_": _template_gettext,
    "gettext": _template_gettext,
    "ngettext": _template_ngettext,
    "pgettext": _template_pgettext,
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
