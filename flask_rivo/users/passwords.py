"""Passwords: which ones to accept, and how to store them.

:func:`reasonable_password` follows NIST SP 800-63B for memorized secrets:
a minimum length and a generous maximum, Unicode NFKC, no composition rules
(they make passwords harder to remember, not to guess), and a check against
lists of common and breached passwords, dictionary words, repetitive and
sequential strings, and words from the context (the user's email address,
the site's name). The lists and pattern matchers are zxcvbn's.

Hashes are bcrypt over an HMAC-SHA256 pre-hash, behind a version prefix, so
that passwords of any length and script work and the scheme can change later.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import hmac
import re
import secrets
import types
import typing as t
import unicodedata

import bcrypt
from zxcvbn import matching  # type: ignore[import-untyped]
from zxcvbn import scoring

from ..i18n import gettext as _
from ..i18n import gettext_noop

if t.TYPE_CHECKING:
    from collections.abc import Iterable

#: Fewest characters (code points after NFKC) a password may have: NIST's 8.
MIN_LENGTH = 8
#: Most characters a password may have. NIST asks for at least 64; a cap
#: still keeps megabyte "passwords" from costing CPU and storage.
MAX_LENGTH = 256
#: Fewer estimated guesses than this is "too guessable". It is where zxcvbn's
#: score 2 starts: modest protection against an unthrottled online attack.
MIN_GUESSES = 10**6
#: How many characters around a word or pattern still count as "just that
#: word": ``sunshine1``, ``Password!``, ``alice2026`` are their words.
MAX_EXTRA = 4
#: zxcvbn's matching grows fast with length, and nothing more is learnt from
#: a longer prefix; only this many characters go to it.
ANALYSED_LENGTH = 100
#: Most combinations of l33t substitutions tried on one password; each costs
#: a dictionary scan of some milliseconds.
MAX_L33T_SUBS = 16
#: A short name matches inside too many good passwords to be worth checking.
MIN_NAME_LENGTH = 3

#: Every message a user may see, as catalog msgids (``%(min_length)d``
#: and ``%(max_length)d`` are filled in); :meth:`PasswordProblem.of`
#: translates them into the page's language.
MESSAGES: t.Final[t.Mapping[str, str]] = types.MappingProxyType(
    {
        "too_short": gettext_noop("Use at least %(min_length)d characters."),
        "too_long": gettext_noop("Use at most %(max_length)d characters."),
        "common": gettext_noop(
            "This password is one of the most common passwords; choose another."
        ),
        "dictionary_word": gettext_noop(
            "This password is a single word from a dictionary,"
            " even with a few extra characters; add more words."
        ),
        "repetitive": gettext_noop(
            "This password repeats the same characters;"
            " choose something less predictable."
        ),
        "sequence": gettext_noop(
            "This password is a sequence such as 12345678, abcdefgh or"
            " a row of keys on the keyboard; choose something less predictable."
        ),
        "contains_name": gettext_noop(
            "This password is mostly your name, email address or"
            " the name of this site; choose something else."
        ),
        "too_guessable": gettext_noop(
            "This password is too easy to guess. Add more words or"
            " characters; a few unusual words together make a strong password."
        ),
    }
)

#: Versioned scheme marker in front of every stored hash.
HASH_PREFIX = "$rivo1$"
#: Public HMAC key of the pre-hash. It is no secret: it separates this use of
#: SHA-256 from every other, so a pre-hash is worthless anywhere else.
PREHASH_KEY = b"flask_rivo password v1"

Match = dict[str, t.Any]  # zxcvbn's matches are plain dicts
Dictionaries = dict[str, dict[str, int]]
_SEPARATORS = re.compile(r"[\W_]+")
_BCRYPT_COST = re.compile(r"\$2[abxy]?\$(\d\d)\$")
_PATTERNS = {"repeat": "repetitive", "sequence": "sequence", "spatial": "sequence"}
_SOURCES = {"user_inputs": "contains_name", "passwords": "common"}
# Checked in this order when several patterns cover the password: a user
# learns more from "a sequence" than from "common" for ``12345678``.
_STRUCTURAL = ("repetitive", "sequence", "common", "dictionary_word")


@dataclasses.dataclass(frozen=True)
class PasswordProblem:
    """What is wrong with a password, in words its owner understands.

    Forms show :attr:`message`; code that reacts to one kind of problem
    tests :attr:`code`, which never changes with wording or language.
    """

    #: Stable identifier, such as ``"too_short"`` or ``"common"``.
    code: str
    #: A full sentence saying what to do instead, in the language of the
    #: page it was made for (see :mod:`flask_rivo.i18n`).
    message: str

    @classmethod
    def of(cls, code: str) -> PasswordProblem:
        """Return the problem ``code`` with its message from :data:`MESSAGES`,
        translated into the current page's language."""
        text = _(MESSAGES[code], min_length=MIN_LENGTH, max_length=MAX_LENGTH)
        return cls(code, text)

    def __str__(self) -> str:
        return self.message


def _context_words(names: Iterable[str]) -> list[str]:
    """Expand names into the words a user would take from them.

    ``alice.smith@example.com`` gives the address, ``alice.smith``,
    ``alicesmith``, ``alice``, ``smith`` and ``example``, because people
    build passwords from parts of their address and drop the dots.
    """
    words: dict[str, None] = {}  # ordered set: zxcvbn ranks by position
    for name in names:
        name = unicodedata.normalize("NFKC", name).strip().lower()
        bases = [name]
        if "@" in name:
            local, _, domain = name.rpartition("@")
            bases += [local, domain.split(".")[0]]
        for base in bases:
            for word in [base, _SEPARATORS.sub("", base), *_SEPARATORS.split(base)]:
                if len(word) >= MIN_NAME_LENGTH:
                    words[word] = None
    return list(words)


def _l33t_table(password: str) -> dict[str, list[str]]:
    """Return the l33t substitutions worth trying on ``password``.

    zxcvbn tries every combination of the substitutions whose symbols occur:
    736 for a password that holds them all, seconds of CPU for one request.
    Letters are left out until at most :data:`MAX_L33T_SUBS` remain; real
    l33t passwords (``P@ssw0rd``) use a few symbols and keep them all.
    """
    table: dict[str, list[str]] = {}
    relevant = matching.relevant_l33t_subtable(password, matching.L33T_TABLE)
    for letter, symbols in relevant.items():
        trial = {**table, letter: symbols}
        if len(matching.enumerate_l33t_subs(trial)) <= MAX_L33T_SUBS:
            table = trial
    return table


_MATCHERS = (
    matching.dictionary_match,
    matching.reverse_dictionary_match,
    matching.spatial_match,
    matching.sequence_match,
    matching.regex_match,
    matching.date_match,
)
_GREEDY = re.compile(r"(.+)\1+", re.DOTALL)
_LAZY = re.compile(r"(.+?)\1+", re.DOTALL)


def _omnimatch(password: str, dictionaries: Dictionaries) -> list[Match]:
    """Find every pattern in ``password``, as zxcvbn's ``omnimatch`` does.

    Its l33t matcher is bounded here (see :func:`_l33t_table`), and so is its
    repeat matcher, which would analyse the repeated part without the bound.
    """
    found = [
        m for f in _MATCHERS for m in f(password, _ranked_dictionaries=dictionaries)
    ]
    found += matching.l33t_match(password, dictionaries, _l33t_table(password))
    start = 0
    while greedy := _GREEDY.search(password, start):
        lazy = _LAZY.search(password, start)
        assert lazy is not None  # where the greedy form matches, so does this
        if len(greedy[0]) > len(lazy[0]):  # "aabaab": the unit is "aab", not "a"
            repeat, base = greedy, _LAZY.fullmatch(greedy[0])[1]  # type: ignore[index]
        else:
            repeat, base = lazy, lazy[1]
        analysis = scoring.most_guessable_match_sequence(
            base, _omnimatch(base, dictionaries)
        )
        found.append(
            {
                "pattern": "repeat",
                "i": repeat.start(),
                "j": repeat.end() - 1,
                "token": repeat[0],
                "base_token": base,
                "base_guesses": analysis["guesses"],
                "base_matches": analysis["sequence"],
                "repeat_count": len(repeat[0]) / len(base),
            }
        )
        start = repeat.end()
    return sorted(found, key=lambda m: (m["i"], m["j"]))


def _kind(match: Match) -> str | None:
    """Name the problem a zxcvbn match stands for, if it stands for one."""
    if match["pattern"] == "dictionary":
        return _SOURCES.get(match["dictionary_name"], "dictionary_word")
    return _PATTERNS.get(match["pattern"])


def reasonable_password(
    password: str, names: Iterable[str] = ()
) -> PasswordProblem | None:
    """Return what is wrong with ``password``, or ``None`` if it will do.

    The order of the checks gives the most useful advice first: length, then
    context names making up half the password or more, then a single word or
    pattern making up all but :data:`MAX_EXTRA` characters, and last the
    estimated guesses overall (fewer than :data:`MIN_GUESSES`).

    :param password: as the user typed it; compared after NFKC, so full-width
        and other compatibility forms count as the characters they stand for.
    :param names: words no password may mostly consist of: the user's email
        address, the site's name. Case does not matter; an email address
        also contributes its local part and the first label of its domain.
    """
    password = unicodedata.normalize("NFKC", password)
    if len(password) < MIN_LENGTH:
        return PasswordProblem.of("too_short")
    if len(password) > MAX_LENGTH:
        return PasswordProblem.of("too_long")

    # zxcvbn is slow on long input (its dictionary matching is quadratic and
    # its l33t matching worse); only the first 100 characters are analysed.
    analysed = password[:ANALYSED_LENGTH]
    size = len(analysed)
    # Our own copy of the dictionaries rather than zxcvbn.zxcvbn(): that one
    # stores user inputs in a module global, which concurrent requests share.
    dictionaries = dict(matching.RANKED_DICTIONARIES)
    dictionaries["user_inputs"] = matching.build_ranked_dict(_context_words(names))
    matches = _omnimatch(analysed, dictionaries)
    result = scoring.most_guessable_match_sequence(analysed, matches)

    named = {
        index
        for match in matches
        if _kind(match) == "contains_name"
        for index in range(match["i"], match["j"] + 1)
    }
    if 2 * len(named) >= size:
        return PasswordProblem.of("contains_name")

    dominant = {
        kind
        for match in matches
        if (kind := _kind(match)) in _STRUCTURAL
        # The word or pattern is the larger part, and the rest is short.
        and len(match["token"]) >= size - MAX_EXTRA
        and 2 * len(match["token"]) > size
        # A long repetition or walk of unguessable parts is no weakness.
        and (
            kind in ("common", "dictionary_word")
            or scoring.estimate_guesses(match, analysed) < MIN_GUESSES
        )
    }
    for kind in _STRUCTURAL:
        if kind in dominant:
            return PasswordProblem.of(kind)

    if result["guesses"] < MIN_GUESSES:
        return PasswordProblem.of("too_guessable")
    return None


def _prehash(password: str) -> bytes:
    """Reduce a password of any length to 44 ASCII bytes for bcrypt.

    bcrypt reads at most 72 bytes (bcrypt 5 refuses more) and stops at a NUL
    byte, so two long passwords with a common start would share a hash.
    Base64 of an HMAC-SHA256 has neither problem.
    """
    data = unicodedata.normalize("NFKC", password).encode("utf-8", "surrogatepass")
    return base64.b64encode(hmac.digest(PREHASH_KEY, data, hashlib.sha256))


def hash_password(password: str, rounds: int) -> str:
    """Return the string to store for ``password``, salted, at cost ``rounds``.

    :param rounds: bcrypt's log2 cost factor, from 4 to 31.
    :raises ValueError: if ``rounds`` is out of that range.
    """
    hashed = bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds))
    return HASH_PREFIX + hashed.decode("ascii")


def check_password(password: str, hashed: str | None) -> bool:
    """Tell whether ``password`` is the one ``hashed`` was made from.

    Never raises: a malformed, truncated or foreign hash is simply no match,
    and so is ``None`` (an account without a password), so a corrupt row
    cannot turn a log-in into a server error.
    """
    if hashed is None or not hashed.startswith(HASH_PREFIX):
        return False
    try:
        stored = hashed[len(HASH_PREFIX) :].encode("ascii")
        return bcrypt.checkpw(_prehash(password), stored)
    except ValueError:  # also UnicodeError: not ASCII, so not bcrypt's
        return False


def needs_rehash(hashed: str, rounds: int) -> bool:
    """Tell whether ``hashed`` should be replaced at the next successful log-in.

    True when it uses another scheme or another cost than ``rounds``: the
    moment the password is at hand is the only chance to upgrade its hash.
    """
    if not hashed.startswith(HASH_PREFIX):
        return True
    cost = _BCRYPT_COST.match(hashed, len(HASH_PREFIX))
    return cost is None or int(cost.group(1)) != rounds


@functools.lru_cache(maxsize=8)
def _dummy_hash(rounds: int) -> str:
    return hash_password(secrets.token_urlsafe(32), rounds)


def dummy_check(password: str, rounds: int) -> bool:
    """Spend the time of one password check, and return ``False``.

    A log-in for an unknown address calls this instead of skipping the
    check, so the response time does not tell which addresses have accounts.
    The hash it checks against is made once per ``rounds`` and kept.
    """
    check_password(password, _dummy_hash(rounds))
    return False
