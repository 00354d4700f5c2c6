"""The words of the buyer's page, in English and Simplified Chinese.

The language comes from ``?lang=`` when given, else from ``Accept-Language`` (RFC 9110
quality values), else English. Every key exists in every language: a test holds them
to that, so a page never shows a missing word. Each language's words are a module of
their own (``api/i18n/en.py``, ``api/i18n/zh.py``); a new language is a new module with
the same keys, named in ``LANGUAGES`` and ``MESSAGES``.
"""

from __future__ import annotations

import re
from datetime import date

from markupsafe import Markup, escape

from api.i18n import en, zh

LANGUAGES = {"en": "English", "zh": "简体中文"}
DEFAULT = "en"

MESSAGES: dict[str, dict[str, str]] = {"en": en.MESSAGES, "zh": zh.MESSAGES}
# The countries ``vininfo`` names (``core.vin`` passes its English names on), by language.
COUNTRIES: dict[str, dict[str, str]] = {"zh": zh.COUNTRIES}


def _primary(tag: str) -> str:
    """A language tag's language: "zh" of zh-CN, and of zh_CN as locales spell it."""
    return tag.strip().replace("_", "-").split("-")[0].lower()


def choose_language(query: str | None, accept_language: str | None) -> str:
    """``?lang=`` if it names a language we have, else the best match of the header."""
    if query and _primary(query) in MESSAGES:
        return _primary(query)
    best, best_q = DEFAULT, 0.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = _primary(tag)
        if primary in MESSAGES and q > best_q:
            best, best_q = primary, q
    return best


class Words:
    """``t("key", name=value)`` for one language; unknown keys fall back to English."""

    def __init__(self, lang: str):
        self.lang = lang
        self._messages = MESSAGES[lang]

    def __call__(self, key: str, **params: object) -> str:
        text = self._messages.get(key) or MESSAGES[DEFAULT].get(key) or key
        return text.format(**params) if params else text

    def count(self, key: str, count: int, **params: object) -> str:
        """``key_one`` for one, else ``key_other``; ``{count}`` is the number."""
        return self(f"{key}_{'one' if count == 1 else 'other'}", count=count, **params)

    def term(self, vocabulary: str, value: str) -> str:
        """A value of a fixed vocabulary (``term("result", "major")``) in words; a value
        the vocabulary does not know (a newer one, or free text) as it was written."""
        key = f"{vocabulary}_{value}"
        return self._messages.get(key) or MESSAGES[DEFAULT].get(key) or value

    def knows(self, vocabulary: str, value: str) -> bool:
        """Whether ``term(vocabulary, value)`` has words for ``value`` in this language."""
        return f"{vocabulary}_{value}" in self._messages

    def date(self, day: date) -> str:
        """A day as the reader writes it: "30 Nov 2026", "2026年11月30日"."""
        month = self("months").split()[day.month - 1]
        return self("date", day=day.day, month=month, year=day.year)

    def country(self, name: str) -> str:
        return COUNTRIES.get(self.lang, {}).get(name, name)


# Chinese text in a partner's name or words on a page in another language: Han characters,
# CJK punctuation and full-width forms, with the spaces, digits and dots between them.
_HAN = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff60"
_HAN_RUN = re.compile(f"[{_HAN}](?:[{_HAN}\\s\\d·.\\-]*[{_HAN}])?")
_NOT_CHINESE = re.compile("[\u3040-\u30ff\u1100-\u11ff\uac00-\ud7af]")  # kana, hangul


def mark_chinese(text: object, lang: str) -> Markup:
    """``text``, escaped, with each run of Chinese in it marked ``lang="zh"`` on a page in
    another language, so a screen reader reads a partner's Chinese name in Chinese
    ("signed by 华诚检测 (inspector)"). Text with kana or hangul is left unmarked: it may
    be Japanese or Korean, which this cannot tell from Chinese."""
    text = "" if text is None else str(text)
    if lang == "zh" or _NOT_CHINESE.search(text) or not _HAN_RUN.search(text):
        return escape(text)
    out, at = [], 0
    for run in _HAN_RUN.finditer(text):
        out.append(escape(text[at : run.start()]))
        out.append(Markup('<span lang="zh">{}</span>').format(run.group(0)))
        at = run.end()
    out.append(escape(text[at:]))
    return Markup("").join(out)
