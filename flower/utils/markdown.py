"""A small Markdown-to-HTML renderer for the project's own documentation pages (``docs/*.md``, served at
``/docs``). Pure functions, any thread.

It knows the Markdown those pages use and nothing more: ``#`` headings (with GitHub's anchor ids, which the
pages link to), paragraphs, ``-``/``*``/``1.`` lists, fenced code blocks, pipe tables, and inline code, links,
images, ``**bold**`` and ``*italic*``. Every piece of text is HTML-escaped and the only tags are the ones written
here, so a page cannot inject markup. Links are handed to ``link(href)``, which decides where each one goes
(another page of the docs, an anchor, an outside address) or that it is not a link here (``None``: a file of
the source tree, which a server does not serve).
"""

from __future__ import annotations

import re
from html import escape
from typing import Callable

LinkMapper = Callable[[str], 'str | None']

_HEADING = re.compile(r'^(#{1,6})\s+(.*?)\s*#*\s*$')
_FENCE = re.compile(r'^(\s*)(```+|~~~+)\s*([\w+-]*)\s*$')
_LIST_ITEM = re.compile(r'^(\s*)(?:[-*+]|\d+[.)])\s+(.*)$')
_TABLE_SEPARATOR = re.compile(r'^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$')
_INLINE = re.compile(
    r'(?P<code>`+)(?P<code_text>.+?)(?P=code)'
    r'|!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)\)'
    r'|\[(?P<text>(?:[^\[\]]|`[^`]*`)+)\]\((?P<href>[^)\s]+)\)'
    r'|<(?P<auto>https?://[^>\s]+)>'
    r'|\*\*(?P<bold>.+?)\*\*'
    r'|(?<![\w*])\*(?P<em>[^\s*](?:[^*]*?[^\s*])?)\*(?![\w*])'
)


def slug(text: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but ``-`` and ``_`` dropped, spaces as dashes."""
    plain = re.sub(r'`|\*\*|\[([^\]]*)\]\([^)]*\)', r'\1', text).strip().lower()
    return re.sub(r'[^\w\- ]', '', plain).replace(' ', '-')


def render(markdown: str, link: LinkMapper) -> str:
    """The HTML body of ``markdown`` (see the module docstring for what it understands)."""
    lines = markdown.replace('\r\n', '\n').split('\n')
    html: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        fence = _FENCE.match(line)
        if fence:
            i = _code_block(lines, i, fence, html)
            continue
        heading = _HEADING.match(line)
        if heading:
            level, text = len(heading.group(1)), heading.group(2)
            html.append(f'<h{level} id="{escape(slug(text))}">{inline(text, link)}</h{level}>')
            i += 1
            continue
        if line.lstrip().startswith('|') and i + 1 < len(lines) and _TABLE_SEPARATOR.match(lines[i + 1]):
            i = _table(lines, i, html, link)
            continue
        if (first_item := _LIST_ITEM.match(line)) is not None:
            i = _list(lines, i, html, link, first_item)
            continue
        i = _paragraph(lines, i, html, link)
    return '\n'.join(html)


def _code_block(lines: list[str], i: int, fence: re.Match, html: list[str]) -> int:
    indent, marker, language = len(fence.group(1)), fence.group(2), fence.group(3)
    body = []
    i += 1
    while i < len(lines) and not lines[i].strip().startswith(marker):
        text = lines[i]
        body.append(text[indent:] if text[:indent].isspace() else text.lstrip())
        i += 1
    css = f' class="language-{escape(language)}"' if language else ''
    html.append(f'<pre class="doc-code"><code{css}>{escape(chr(10).join(body))}</code></pre>')
    return i + 1


def _cells(row: str) -> list[str]:
    """A table row's cells: split on ``|`` outside code spans (``\\|`` is a literal bar)."""
    row = row.strip()
    row = row[1:] if row.startswith('|') else row
    row = row[:-1] if row.endswith('|') and not row.endswith('\\|') else row
    cells, current, in_code = [], [], False
    j = 0
    while j < len(row):
        char = row[j]
        if char == '\\' and j + 1 < len(row) and row[j + 1] == '|':
            current.append('|')
            j += 2
            continue
        if char == '`':
            in_code = not in_code
        if char == '|' and not in_code:
            cells.append(''.join(current).strip())
            current = []
        else:
            current.append(char)
        j += 1
    cells.append(''.join(current).strip())
    return cells


def _table(lines: list[str], i: int, html: list[str], link: LinkMapper) -> int:
    head = _cells(lines[i])
    i += 2
    rows = []
    while i < len(lines) and lines[i].lstrip().startswith('|'):
        rows.append(_cells(lines[i]))
        i += 1
    out = ['<div class="table-responsive"><table class="table table-sm doc-table"><thead><tr>']
    out += [f'<th>{inline(cell, link)}</th>' for cell in head]
    out.append('</tr></thead><tbody>')
    for row in rows:
        out.append('<tr>' + ''.join(f'<td>{inline(cell, link)}</td>' for cell in row) + '</tr>')
    out.append('</tbody></table></div>')
    html.append(''.join(out))
    return i


def _list(lines: list[str], i: int, html: list[str], link: LinkMapper, first: re.Match[str]) -> int:
    """The list starting at ``lines[i]`` (``first`` is its item's match)."""
    ordered = lines[i].lstrip()[0] not in '-*+'
    items: list[list[str]] = []
    while i < len(lines) and lines[i].strip():
        item = _LIST_ITEM.match(lines[i])
        if item and len(item.group(1)) <= len(first.group(1)) + 1:
            items.append([item.group(2)])
        elif _FENCE.match(lines[i]) or _HEADING.match(lines[i]):
            break  # a code block or a heading after an item ends the list
        else:
            items[-1].append(lines[i].strip())  # a continuation line, or a nested item shown inside its parent
        i += 1
    tag = 'ol' if ordered else 'ul'
    html.append(f'<{tag}>' + ''.join(f'<li>{inline(" ".join(item), link)}</li>' for item in items) + f'</{tag}>')
    return i


def _paragraph(lines: list[str], i: int, html: list[str], link: LinkMapper) -> int:
    text: list[str] = []
    while (
        i < len(lines)
        and lines[i].strip()
        and not (_FENCE.match(lines[i]) or _HEADING.match(lines[i]) or (text and _LIST_ITEM.match(lines[i])))
    ):
        text.append(lines[i].strip())
        i += 1
    html.append(f'<p>{inline(" ".join(text), link)}</p>')
    return i


def inline(text: str, link: LinkMapper) -> str:
    """One line of Markdown text as HTML: code spans, links, images, bold and italic; everything else escaped."""
    out = []
    position = 0
    for match in _INLINE.finditer(text):
        out.append(_plain(text[position : match.start()]))
        position = match.end()
        if match.group('code'):
            out.append(f'<code>{escape(match.group("code_text").strip())}</code>')
        elif match.group('src') is not None:
            target = link(match.group('src'))
            alt = escape(match.group('alt'))
            out.append(f'<img class="doc-image" src="{escape(target)}" alt="{alt}">' if target else alt)
        elif match.group('href') is not None:
            out.append(_link(inline(match.group('text'), link), match.group('href'), link))
        elif match.group('auto'):
            url = match.group('auto')
            out.append(_link(escape(url), url, link))
        elif match.group('bold') is not None:
            out.append(f'<strong>{inline(match.group("bold"), link)}</strong>')
        else:
            out.append(f'<em>{inline(match.group("em"), link)}</em>')
    out.append(_plain(text[position:]))
    return ''.join(out)


def _plain(text: str) -> str:
    return escape(text, quote=False)


def _link(label_html: str, href: str, link: LinkMapper) -> str:
    target = link(href)
    if target is None:
        return f'<span class="doc-source-link" title="{escape(href)} in the source tree">{label_html}</span>'
    if target.startswith(('http://', 'https://')):
        return f'<a href="{escape(target)}" rel="noopener noreferrer" target="_blank">{label_html}</a>'
    return f'<a href="{escape(target)}">{label_html}</a>'
