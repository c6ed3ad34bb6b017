"""The project's documentation, served by the server itself (``/docs``, ``/docs/<page>.md``): the navigation's
"Docs" link works without internet and always matches the version that is running.

The pages are the Markdown files of the source tree's ``docs/`` (``flower/docs`` links to it there; a wheel or
the Docker image carries a copy), rendered by :mod:`flower.utils.markdown` and kept rendered until a file
changes. Only the names found in that folder are served. Runs on the IOLoop thread (the files are small and
local).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from flower.utils import prepend_url
from flower.utils.markdown import render
from flower.views import BaseHandler
from flower.views.error_status import NotFound

DOCS_DIR = Path(__file__).resolve().parents[1] / 'docs'
INDEX = 'index.md'
IMAGE_TYPES = {'.png': 'image/png', '.svg': 'image/svg+xml'}


def doc_files() -> set[str]:
    """The file names that can be served: the ``.md`` pages and their images."""
    try:
        return {name for name in os.listdir(DOCS_DIR) if name.endswith('.md') or name[-4:] in IMAGE_TYPES}
    except OSError:
        return set()


def link_mapper(base: str, files: set[str]):
    """Where a link of a page goes: outside addresses and anchors as they are, another page or image of the docs
    under ``base`` (``/docs``), anything else (a file of the source tree) nowhere."""

    def link(href: str) -> str | None:
        if href.startswith(('http://', 'https://', 'mailto:', '#')):
            return href
        path, hash_, anchor = href.partition('#')
        if path in files:
            return (base if path == INDEX else f'{base}/{path}') + hash_ + anchor
        return None

    return link


@lru_cache(maxsize=64)
def _rendered(name: str, modified: float, base: str) -> tuple[str, str]:
    text = (DOCS_DIR / name).read_text(encoding='utf-8')
    title = next((line.lstrip('#').strip().strip('`') for line in text.splitlines() if line.startswith('# ')), name)
    return title, render(text, link_mapper(base, doc_files()))


class DocsView(BaseHandler):
    """``/docs`` (the index) and ``/docs/<name>`` (a page, or an image a page shows)."""

    def get(self, name: str | None = None):
        name = name or INDEX
        files = doc_files()
        if name + '.md' in files:  # /docs/troubleshooting, as a person types it, is the page's address too
            self.redirect(prepend_url(f'/docs/{name}.md', self.application.options.url_prefix), permanent=True)
            return
        if name not in files:
            raise NotFound(
                f"No documentation page '{name}'" if files else 'The documentation is not installed with this server'
            )
        path = DOCS_DIR / name
        suffix = path.suffix
        if suffix in IMAGE_TYPES:
            self.set_header('Content-Type', IMAGE_TYPES[suffix])
            self.finish(path.read_bytes())
            return
        base = prepend_url('/docs', self.application.options.url_prefix)
        title, body = _rendered(name, path.stat().st_mtime, base)
        self.render('docs.html', active_tab='docs', title=title, body=body, docs_home=base, is_index=name == INDEX)
