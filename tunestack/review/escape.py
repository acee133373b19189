"""Text from a pull request (stack file names, values, reasons, ref names, error text) made inert in
a GitHub comment: it can close no <details>, start no HTML, mention nobody and break no code block."""
from __future__ import annotations

import html
import re

# What can start emphasis, a link, code, a table cell or strike-through anywhere in a line.
_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")


def inline(text) -> str:
    """Prose: HTML escaped, Markdown's punctuation backslash-escaped, `@` that mentions nobody."""
    text = _MARKDOWN.sub(r"\\\1", " ".join(str(text).split()))
    return html.escape(text, quote=False).replace("@", "@\u200b")


def code(value) -> str:
    """A value as code: a plain backtick span where it can be one, else <code> with every special
    character escaped (a backtick or a pipe would end the span or the table cell)."""
    text = " ".join(str(value).split())
    if text == "":
        return '`""`'
    if not re.search(r"[`|]", text):
        return f"`{text}`"
    escaped = html.escape(text).replace("|", "&#124;").replace("`", "&#96;").replace("@", "&#64;")
    return f"<code>{escaped}</code>"


def block(text: str, language: str = "") -> list[str]:
    """A fenced block whose fence is longer than any run of backticks inside (CommonMark), so the
    text can never close it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + language, text.rstrip("\n"), fence]
