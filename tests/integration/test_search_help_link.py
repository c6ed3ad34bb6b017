"""The tasks page links to the full search syntax (docs/dashboards.md, section "Search", served by the server
itself), with and without --url_prefix, and the link lands on that section."""

from __future__ import annotations

import re

import pytest

from tests.support.inprocess import InProcessServer


@pytest.mark.parametrize('prefix', ['', 'flower'])
def test_the_tasks_page_links_to_the_search_syntax(prefix):
    server = InProcessServer(options={'url_prefix': prefix})
    try:
        base = f'/{prefix}' if prefix else ''
        page = server.get(f'{base}/tasks')
        assert page.status_code == 200
        link = re.search(r'<a href="([^"]+)" id="search-syntax-doc">([^<]+)</a>', page.text)
        assert link, page.text[page.text.find('search-help') :][:1500]
        assert link.groups() == (f'{base}/docs/dashboards.md#search', 'the search syntax in full')
        doc = server.get(link.group(1).split('#')[0])
        assert doc.status_code == 200
        section = doc.text.split('<h2 id="search">Search</h2>')[1].split('<h2')[0]
        assert 'state:FAILURE' in section and 'kwargs:customer_id=42' in section
    finally:
        server.stop()
