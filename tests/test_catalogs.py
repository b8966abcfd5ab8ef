"""flask_rivo's catalogs match its sources: every marked string is in the
template and translated in every language, and the shipped .mo files are
compiled from the .po files as they are (``make translations`` makes both).
"""

from __future__ import annotations

import io
import re
import typing as t
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_keywords
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

if t.TYPE_CHECKING:
    from babel.messages.catalog import Catalog
    from babel.messages.catalog import Message

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "flask_rivo" / "translations"
LANGUAGES = sorted(p.name for p in TRANSLATIONS.iterdir() if p.is_dir())
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
_TAG = re.compile(r"<(\w+)")


def keywords() -> dict[str, t.Any]:
    """The gettext keywords of ``make translations``, read from the Makefile,
    so that this test and the extraction can never disagree."""
    recipe = (ROOT / "Makefile").read_text()
    found = re.findall(r"-k (\S+)", recipe)
    assert "_" in found and "lazy_gettext" in found
    return t.cast("dict[str, t.Any]", parse_keywords(found))


def source_messages() -> dict[tuple[str, str | None], str | tuple[str, ...]]:
    """Every message marked in the sources, as ``make translations`` finds it."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: dict[tuple[str, str | None], str | tuple[str, ...]] = {}
    for _, _, message, _, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords()
    ):
        key = message[0] if isinstance(message, tuple) else message
        found[(key, context)] = message
    return found


def catalog(path: Path, lang: str | None = None) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=lang)


def po_path(lang: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / "flask_rivo.po"


@pytest.fixture(scope="module")
def sources() -> dict[tuple[str, str | None], str | tuple[str, ...]]:
    found = source_messages()
    assert len(found) > 150  # the extraction saw the sources
    return found


def test_languages_are_shipped() -> None:
    assert {"de", "fr"} <= set(LANGUAGES)


def test_the_template_has_every_message_of_the_sources(
    sources: dict[tuple[str, str | None], t.Any],
) -> None:
    template = catalog(TRANSLATIONS / "flask_rivo.pot")
    ids = {(m.id[0] if isinstance(m.id, tuple) else m.id, m.context) for m in template}
    assert set(sources) <= ids, "run make translations"


def _problems(message: Message | None, source: t.Any) -> str | None:
    if message is None:
        return "missing"
    if message.fuzzy:
        return "fuzzy"
    ids = source if isinstance(source, tuple) else (source,)
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    if len(ids) > 1 and not isinstance(message.string, tuple):
        return "no plural forms"
    if not all(strings):
        return "untranslated"
    wanted = set(_PLACEHOLDER.findall(ids[-1]))
    for text in strings:
        # Every form but the singular of a plural names %(num)d; the
        # singular may say "one" instead.
        if set(_PLACEHOLDER.findall(text)) - wanted:
            return f"unknown placeholder in {text!r}"
        if len(ids) == 1 and set(_PLACEHOLDER.findall(text)) != wanted:
            return f"placeholders differ in {text!r}"
        if sorted(_TAG.findall(text)) != sorted(_TAG.findall(ids[0])):
            return f"HTML tags differ in {text!r}"
    return None


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_is_translated(
    lang: str, sources: dict[tuple[str, str | None], t.Any]
) -> None:
    translated = catalog(po_path(lang), lang)
    problems = {
        key: problem
        for key, source in sources.items()
        if (problem := _problems(translated.get(*key), source)) is not None
    }
    assert problems == {}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_plural_forms_are_the_languages(lang: str) -> None:
    translated = catalog(po_path(lang), lang)
    for message in translated:
        if message.id and isinstance(message.id, tuple):
            assert len(message.string) == translated.num_plurals, message.id


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_mo_file_is_compiled_from_the_po_file(lang: str) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, catalog(po_path(lang), lang))
    shipped = po_path(lang).with_suffix(".mo").read_bytes()
    assert shipped == compiled.getvalue(), "run make translations"


def test_the_check_sees_a_problem() -> None:
    from babel.messages.catalog import Message

    assert _problems(None, "Hello") == "missing"
    assert _problems(Message("Hello", ""), "Hello") == "untranslated"
    assert _problems(Message("Hello", "Hallo", flags=["fuzzy"]), "Hello") == "fuzzy"
    assert _problems(Message("Hi %(x)s", "Hallo"), "Hi %(x)s") is not None
    assert _problems(Message("<b>Hi</b>", "Hallo"), "<b>Hi</b>") is not None
    assert _problems(Message("Hi %(x)s", "Hallo %(x)s"), "Hi %(x)s") is None
