from __future__ import annotations

import dataclasses
import secrets
import string
import time
from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from zxcvbn import matching  # type: ignore[import-untyped]
from zxcvbn import scoring

from flask_rivo.users import passwords
from flask_rivo.users.passwords import MESSAGES
from flask_rivo.users.passwords import PasswordProblem
from flask_rivo.users.passwords import check_password
from flask_rivo.users.passwords import dummy_check
from flask_rivo.users.passwords import hash_password
from flask_rivo.users.passwords import needs_rehash
from flask_rivo.users.passwords import reasonable_password

ROUNDS = 4  # bcrypt's least cost: the tests check behaviour, not strength


def code(password: str, names: Iterable[str] = ()) -> str | None:
    problem = reasonable_password(password, names)
    return None if problem is None else problem.code


def full_width(text: str) -> str:
    """Spell ASCII letters in their full-width forms, as East Asian keyboards do."""
    return "".join(chr(ord(char) + 0xFEE0) for char in text)


def random_password(length: int) -> str:
    alphabet = string.ascii_letters + string.digits + string.punctuation
    return "".join(secrets.choice(alphabet) for _ in range(length))


# -- reasonable_password ---------------------------------------------------


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("abc12!x", "too_short"),
        ("Kx9#mQ2", "too_short"),
        ("password", "common"),
        ("Password!", "common"),
        ("P@ssw0rd", "common"),
        ("iloveyou", "common"),
        ("sunshine1", "common"),
        ("letmein2026", "common"),
        ("thermodynamics1", "dictionary_word"),
        ("Photosynthesis!", "dictionary_word"),
        ("refrigerator", "dictionary_word"),
        ("internationalization1", "dictionary_word"),
        ("aaaaaaaa", "repetitive"),
        ("abcabcabc", "repetitive"),
        ("xK9#xK9#xK9#", "repetitive"),
        ("aabaabaabaab", "repetitive"),
        ("12345678", "sequence"),
        ("98765432", "sequence"),
        ("abcdefgh", "sequence"),
        ("qwertyui", "sequence"),
        ("asdfghjkl", "sequence"),
        ("1qazxsw2", "sequence"),
        ("02/14/1990", "too_guessable"),
        ("1990-02-14", "too_guessable"),
    ],
)
def test_problem_codes(password: str, expected: str) -> None:
    assert code(password) == expected


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "Tr0ub4dor&3 isn't great but zebra-violin-cactus is",
        "Grüße aus dem schönen Köln am Rhein",
        "internationalization is hard",
        "Мой пароль достаточно длинный",
        "tree#k9Q",
    ],
)
def test_good_passwords(password: str) -> None:
    assert reasonable_password(password) is None


def test_random_passwords_accepted() -> None:
    for _ in range(5):
        assert reasonable_password(random_password(20)) is None


def test_nfkc_full_width_counts_as_ascii() -> None:
    assert code(full_width("password")) == "common"
    # Seven full-width letters are seven characters, and a ligature is two.
    assert code(full_width("xqzjkwv")) == "too_short"
    assert code("abcde\ufb01") == "too_short"  # "abcdefi" after NFKC: 7


def test_length_counts_code_points_not_bytes() -> None:
    assert code("ÄÖÜäöüß") == "too_short"  # 14 bytes in UTF-8, 7 characters
    assert code("😀🐍🎉🚀🌍🍕🎸") == "too_short"


def test_lengths_up_to_max_allowed() -> None:
    assert reasonable_password(random_password(64)) is None
    assert reasonable_password(random_password(passwords.MAX_LENGTH)) is None


def test_too_long() -> None:
    problem = reasonable_password(random_password(passwords.MAX_LENGTH + 1))
    assert problem is not None
    assert problem.code == "too_long"


def test_long_password_is_quick() -> None:
    # Only the first characters go to zxcvbn, and its worst cases are bounded.
    symbols = "4@8([{<3691!|7$5+%2"
    for password in [random_password(256), (symbols * 14)[:256]]:
        start = time.perf_counter()
        reasonable_password(password)
        assert time.perf_counter() - start < 2


@pytest.mark.parametrize(
    "password",
    ["aabaabaabaab", "P@ssw0rd1990", "correct horse battery staple", "abcabc xyz"],
)
def test_matching_agrees_with_zxcvbn(password: str) -> None:
    # Where no bound applies, the bounded matching finds what zxcvbn finds.
    ours = passwords._omnimatch(password, dict(matching.RANKED_DICTIONARIES))
    theirs = matching.omnimatch(password, dict(matching.RANKED_DICTIONARIES))
    assert (
        scoring.most_guessable_match_sequence(password, ours)["guesses"]
        == (scoring.most_guessable_match_sequence(password, theirs)["guesses"])
    )
    assert len(ours) == len(theirs)


def test_email_address_name() -> None:
    names = ["alice.smith@example.com"]
    assert code("alice.smith2026", names) == "contains_name"
    assert code("Alice-Smith!!", names) == "contains_name"
    assert code("AliceSmith77", names) == "contains_name"
    assert code("example.com99", names) == "contains_name"
    assert code("alice.smith2026") is None  # without the name it is fine


def test_site_name() -> None:
    assert code("flaskrivo123", ["Flask-Rivo"]) == "contains_name"
    assert code("Fl4skR1vo!", ["Flask-Rivo"]) == "contains_name"
    assert code("FLASK-RIVO-2026", ["Flask-Rivo"]) == "contains_name"


def test_name_in_a_longer_passphrase_is_fine() -> None:
    names = ["alice.smith@example.com", "Flask-Rivo"]
    assert reasonable_password("alice likes purple giraffes", names) is None
    assert reasonable_password("flask potatoes grow tall", names) is None


def test_short_and_empty_names_ignored() -> None:
    assert reasonable_password("ab ab cd zebra-violin-cactus", ["", "ab", "x"]) is None


def test_names_accepts_any_iterable() -> None:
    assert code("flaskrivo123", (n for n in ["Flask-Rivo"])) == "contains_name"


def test_problem_is_an_immutable_sentence() -> None:
    problem = reasonable_password("short")
    assert problem == PasswordProblem(
        "too_short", f"Use at least {passwords.MIN_LENGTH} characters."
    )
    assert str(problem) == problem.message
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.code = "other"  # type: ignore[misc]


@pytest.mark.parametrize("problem_code", sorted(MESSAGES))
def test_every_message_is_a_sentence(problem_code: str) -> None:
    message = PasswordProblem.of(problem_code).message
    assert message[0].isupper()
    assert message.endswith(".")
    assert "{" not in message


def test_too_guessable_advises_more_words() -> None:
    problem = reasonable_password("14.02.1990")
    assert problem is not None
    assert "few unusual words" in problem.message


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.lists(st.text(max_size=30), max_size=3))
def test_reasonable_password_never_raises(password: str, names: list[str]) -> None:
    problem = reasonable_password(password, names)
    assert problem is None or problem.code in MESSAGES


# -- hashing ---------------------------------------------------------------


def test_round_trip() -> None:
    hashed = hash_password("correct horse battery staple", ROUNDS)
    assert hashed.startswith(passwords.HASH_PREFIX)
    assert check_password("correct horse battery staple", hashed)
    assert not check_password("correct horse battery stapler", hashed)
    assert not check_password("", hashed)


def test_salted() -> None:
    assert hash_password("same password", ROUNDS) != hash_password(
        "same password", ROUNDS
    )


def test_bytes_beyond_72_count() -> None:
    common = "x" * 80
    hashed = hash_password(common + "a", ROUNDS)
    assert check_password(common + "a", hashed)
    assert not check_password(common + "b", hashed)
    assert not check_password(common, hashed)


def test_non_ascii_and_very_long() -> None:
    for password in ["Grüße aus Köln", "密码很长" * 100, "emoji 😀🐍", "nul\0byte"]:
        hashed = hash_password(password, ROUNDS)
        assert check_password(password, hashed)
        assert not check_password(password + " ", hashed)


def test_nul_byte_is_not_the_end() -> None:
    hashed = hash_password("before\0after", ROUNDS)
    assert not check_password("before\0other", hashed)
    assert not check_password("before", hashed)


def test_nfkc_in_hash() -> None:
    hashed = hash_password(full_width("pass") + " phrase", ROUNDS)
    assert check_password("pass phrase", hashed)


@pytest.mark.parametrize(
    "hashed",
    [
        "",
        "plain text",
        passwords.HASH_PREFIX,
        passwords.HASH_PREFIX + "$2b$04$tooshort",
        passwords.HASH_PREFIX + "$2b$04$" + "é" * 53,
        passwords.HASH_PREFIX + "garbage that is not bcrypt at all but quite long",
    ],
)
def test_malformed_hash_is_no_match(hashed: str) -> None:
    assert check_password("anything at all", hashed) is False


def test_foreign_and_missing_hashes_are_no_match() -> None:
    bare = hash_password("secret words", ROUNDS).removeprefix(passwords.HASH_PREFIX)
    assert bare.startswith("$2")
    assert check_password("secret words", bare) is False  # no scheme marker
    assert check_password("secret words", "$rivo0$" + bare) is False
    assert check_password("secret words", None) is False


def test_truncated_hash_is_no_match() -> None:
    hashed = hash_password("secret words", ROUNDS)
    assert check_password("secret words", hashed[:-5]) is False


def test_needs_rehash() -> None:
    hashed = hash_password("secret words", ROUNDS)
    assert not needs_rehash(hashed, ROUNDS)
    assert needs_rehash(hashed, ROUNDS + 1)
    assert needs_rehash(hash_password("secret words", 5), ROUNDS)
    assert needs_rehash(hashed.removeprefix(passwords.HASH_PREFIX), ROUNDS)
    assert needs_rehash("$rivo1$garbage", ROUNDS)
    assert needs_rehash("", ROUNDS)


def test_rounds_out_of_range() -> None:
    with pytest.raises(ValueError, match="rounds"):
        hash_password("secret words", 3)


def test_dummy_check() -> None:
    assert dummy_check("anything", ROUNDS) is False
    assert dummy_check("", ROUNDS) is False
    # One hash per cost, made once: the next check costs one bcrypt check.
    assert passwords._dummy_hash(ROUNDS) == passwords._dummy_hash(ROUNDS)
    assert not needs_rehash(passwords._dummy_hash(ROUNDS), ROUNDS)
    assert not needs_rehash(passwords._dummy_hash(5), 5)


@settings(max_examples=30, deadline=None)
@given(st.text(max_size=200))
def test_hash_round_trip_any_text(password: str) -> None:
    hashed = hash_password(password, ROUNDS)
    assert check_password(password, hashed)
    assert not check_password(password + "x", hashed)
