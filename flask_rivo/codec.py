"""Session values to Flask's tagged JSON and back, without per-value setup.

Flask's :class:`~flask.json.tag.TaggedJSONSerializer` goes through
:mod:`flask.json` for every value: it looks up the current application's
JSON provider, which builds a new :class:`json.JSONEncoder` for every value
it dumps, and tries each tag in turn even on a plain number. A session of a
few keys paid that on every load and every write.

With Flask's own serializer and provider classes (the usual case), the
work is known: :class:`Codecs` builds the encoder once per provider settings
and skips the tags for the types no default tag touches. The text is the
same, byte for byte, as the serializer's own; anything else (a provider or
serializer of the application's own, tags it registered) goes through the
serializer as it is.
"""

from __future__ import annotations

import json
import typing as t

from flask.json.provider import DefaultJSONProvider
from flask.json.tag import PassDict
from flask.json.tag import PassList
from flask.json.tag import TagBytes
from flask.json.tag import TagDateTime
from flask.json.tag import TagDict
from flask.json.tag import TaggedJSONSerializer
from flask.json.tag import TagMarkup
from flask.json.tag import TagTuple
from flask.json.tag import TagUUID

if t.TYPE_CHECKING:
    from flask.json.provider import JSONProvider

#: The tags Flask registers, in its order: a serializer with exactly these
#: leaves values of the types below as they are.
_FLASK_TAGS: tuple[type, ...] = (TagDict, PassDict, TagTuple, PassList, TagBytes)
_FLASK_TAGS += (TagMarkup, TagUUID, TagDateTime)
#: Types none of Flask's tags changes (exactly these, not subclasses: a
#: ``str`` subclass may be ``Markup``).
_PLAIN = frozenset({str, int, float, bool, type(None)})


class Codec(t.NamedTuple):
    """How one application's session values become text, and back."""

    #: A stored value back to the session's value.
    loads: t.Callable[[str], t.Any]
    #: A session value to the text stored.
    dumps: t.Callable[[t.Any], str]


_Key = tuple[object, ...]


class Codecs:
    """The codecs one session interface has made, by what each depends on
    (a handful at most: the key changes only if the application changes
    its JSON provider's settings)."""

    #: More than this many made means something keeps changing: start over.
    MAX_MADE = 16

    def __init__(self) -> None:
        self._made: dict[_Key, Codec] = {}

    def __call__(
        self, serializer: TaggedJSONSerializer, provider: JSONProvider
    ) -> Codec:
        """The codec of ``serializer`` under the application's JSON ``provider``
        (``app.json``)."""
        if (
            type(serializer) is not TaggedJSONSerializer
            or type(provider) is not DefaultJSONProvider  # not even a subclass
        ):
            return Codec(serializer.loads, serializer.dumps)
        options = (provider.default, provider.ensure_ascii, provider.sort_keys)
        key = (serializer, len(serializer.order), *options)
        found = self._made.get(key)
        if found is None:
            if len(self._made) >= self.MAX_MADE:
                self._made.clear()
            found = self._made[key] = _make(serializer, *options)
        return found


def _make(
    serializer: TaggedJSONSerializer,
    default: t.Callable[[t.Any], t.Any],
    ensure_ascii: bool,
    sort_keys: bool,
) -> Codec:
    """The codec for Flask's own serializer and provider, with these options
    of the provider's (what its ``dumps`` passes to :func:`json.dumps`)."""
    encode = json.JSONEncoder(
        separators=(",", ":"),
        default=default,
        ensure_ascii=ensure_ascii,
        sort_keys=sort_keys,
    ).encode
    tag, slow_loads = serializer.tag, serializer.loads
    flask_tags = tuple(type(tag) for tag in serializer.order) == _FLASK_TAGS
    plain = _PLAIN if flask_tags else frozenset()
    decode = json.JSONDecoder().decode
    # Flask's own loads: json.loads, then this scan (a private method,
    # hence the fallback to the serializer's loads if it ever goes).
    untag_scan = getattr(serializer, "_untag_scan", None)

    def dumps(value: t.Any) -> str:
        return encode(value if type(value) in plain else tag(value))

    def loads(text: str) -> t.Any:
        if untag_scan is None or type(text) is not str:
            return slow_loads(text)
        value = decode(text)
        return untag_scan(value) if type(value) in (dict, list) else value

    return Codec(loads, dumps)
