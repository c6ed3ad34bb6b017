"""The documentation the server shows at /docs (flower.views.docs, flower.utils.markdown): every page of docs/
renders, every link between them lands on a page and heading that exist, and the renderer escapes text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flower.utils.markdown import inline, render, slug
from flower.views.docs import DOCS_DIR, INDEX, doc_files, link_mapper

REPO = Path(__file__).resolve().parents[2]


def _link(href):
    return link_mapper('/p/docs', doc_files())(href)


def test_the_served_folder_is_the_projects_docs():
    assert DOCS_DIR.resolve() == (REPO / 'docs').resolve()
    assert {path.name for path in (REPO / 'docs').glob('*.md')} <= doc_files()
    assert 'benchmarks.png' in doc_files()


def test_links_go_to_pages_anchors_and_outside_addresses_but_not_to_the_source_tree():
    assert _link('configuration.md') == '/p/docs/configuration.md'
    assert _link('configuration.md#--url_prefix') == '/p/docs/configuration.md#--url_prefix'
    assert _link(INDEX) == '/p/docs'
    assert _link('#message') == '#message'
    assert _link('https://docs.celeryq.dev/') == 'https://docs.celeryq.dev/'
    assert _link('benchmarks.png') == '/p/docs/benchmarks.png'
    for source_file in ('../README.md', '../examples/nginx/flower.conf', 'nope.md', '../docs/../flower/app.py'):
        assert _link(source_file) is None, source_file


def _pages():
    files = doc_files()
    return {
        name: render((DOCS_DIR / name).read_text(encoding='utf-8'), link_mapper('/docs', files))
        for name in sorted(files)
        if name.endswith('.md')
    }


def test_every_page_renders_and_every_link_between_pages_lands_on_a_heading_that_exists():
    pages = _pages()
    assert len(pages) >= 12
    ids = {name: set(re.findall(r' id="([^"]*)"', html)) for name, html in pages.items()}
    checked = 0
    for name, html in pages.items():
        assert html.count('<h1 ') == 1, name
        for href in re.findall(r'<a href="([^"]*)"', html):
            if href.startswith('http'):
                continue
            path, _, anchor = href.partition('#')
            target = name if not path else INDEX if path == '/docs' else path.rsplit('/', 1)[-1]
            assert target in pages or target in doc_files(), (name, href)
            if anchor:
                assert anchor in ids[target], (name, href)
            checked += 1
    assert checked > 100


def test_text_is_escaped_and_only_the_renderers_tags_appear():
    html = render(
        '# <b>Title</b>\n\n<script>alert(1)</script> & [x](javascript:alert(1)) `<i>`\n\n'
        '| a | b |\n|---|---|\n| <img src=x onerror=1> | `x|y` |\n',
        _link_or_none,
    )
    assert '<script>' not in html and '<b>' not in html and '<img' not in html and '<i>' not in html
    assert '&lt;script&gt;alert(1)&lt;/script&gt; &amp;' in html and '<code>&lt;i&gt;</code>' in html
    assert 'href=' not in html  # a link the mapper refuses is text
    assert '<td><code>x|y</code></td>' in html  # a bar inside code is not a cell border
    assert set(re.findall(r'<(\w+)', html)) <= {
        'h1',
        'p',
        'span',
        'code',
        'div',
        'table',
        'thead',
        'tr',
        'th',
        'tbody',
        'td',
    }


def _link_or_none(href):
    return None


@pytest.mark.parametrize(
    'text, expected',
    [
        ('--url_prefix', '--url_prefix'),
        ('The compose example', 'the-compose-example'),
        ('`GET /api/workers`', 'get-apiworkers'),
        ('What runs', 'what-runs'),
        ('python_gc_objects_collected_total', 'python_gc_objects_collected_total'),
    ],
)
def test_heading_anchors_are_githubs(text, expected):
    assert slug(text) == expected


def test_inline_markup():
    assert (
        inline('*Generated from `/api/openapi.json`.*', _link_or_none)
        == '<em>Generated from <code>/api/openapi.json</code>.</em>'
    )
    assert inline('`FLOWER_*` and *unset*, a * b', _link_or_none) == '<code>FLOWER_*</code> and <em>unset</em>, a * b'
    assert (
        inline('**bold** [`--port`](#--port)', lambda href: href)
        == '<strong>bold</strong> <a href="#--port"><code>--port</code></a>'
    )
