"""Every user-facing text, in Simplified Chinese and English, looked up by key.

The texts live in two gettext catalogues, ``locale/zh_CN/LC_MESSAGES/messages.po`` and
``locale/en/LC_MESSAGES/messages.po``, with the same keys. A key is an id (``quality.blurry``,
``kiosk.confirm``) or, for the admin's pages, the Chinese text itself (gettext's own convention,
so templates keep ``_("保存")``). The .po files are read with Babel when a text is first asked for:
there is no compile step, and translators' tools open them as they are.

``text(key, language, **values)`` fills ``{named}`` placeholders. A language that is not English
gets Chinese, the product's default. A missing key raises KeyError: tests/cli/test_texts.py walks the
code and the templates so that a missing key fails a test rather than showing a blank.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from types import MappingProxyType

from babel.messages.pofile import read_po

LANGUAGES = ("zh_CN", "en")
DEFAULT = "zh_CN"


def language_of(language: str | None) -> str:
    """The catalogue for a language tag: English for en / en_US / en-GB, else Chinese."""
    tag = (language or "").replace("-", "_").lower()
    return "en" if tag == "en" or tag.startswith("en_") else DEFAULT


def read_catalogue(fileobj, language: str) -> dict[str, str]:
    """Key -> text from a .po file; a fuzzy (unreviewed) text counts as missing, as msgfmt has it."""
    catalog = read_po(fileobj, locale=language, abort_invalid=True)
    return {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}


@cache
def _catalogue(language: str) -> MappingProxyType:
    path = resources.files(__package__) / "locale" / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        return MappingProxyType(read_catalogue(f, language))


def catalogue(language: str | None) -> MappingProxyType:
    """Every key and its text in one language (read once, then kept)."""
    return _catalogue(language_of(language))


def text(key: str, language: str | None = DEFAULT, **values) -> str:
    """The text for ``key`` in ``language``, with ``{named}`` placeholders filled from ``values``."""
    return catalogue(language)[key].format(**values)


def has(key: str) -> bool:
    """Whether ``key`` is in the catalogue (for keys made from a code, e.g. a reason)."""
    return key in catalogue(DEFAULT)


def keys() -> frozenset[str]:
    return frozenset(catalogue(DEFAULT))
