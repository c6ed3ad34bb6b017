"""Celery's ``registered`` entries read as task names (flower.utils.registered)."""

import pytest

from flower.utils.registered import registered_name, split_registered


@pytest.mark.parametrize(
    'entry, expected',
    [
        ('app.add', ('app.add', '')),
        ('app.limited [rate_limit=100/m]', ('app.limited', 'rate_limit=100/m')),
        (
            'app.routed [exchange=ex routing_key=rk rate_limit=1/s]',
            ('app.routed', 'exchange=ex routing_key=rk rate_limit=1/s'),
        ),
        ('odd name [not a decoration]', ('odd name [not a decoration]', '')),  # no key=value: a name as it is
        ('app.list[0]', ('app.list[0]', '')),
        ('', ('', '')),
        (42, ('42', '')),  # a worker's odd reply never breaks the page
    ],
)
def test_split_registered(entry, expected):
    assert split_registered(entry) == expected
    assert registered_name(entry) == expected[0]


def test_celery_decorates_the_names_this_way():
    """The format read here is the one celery's own ``registered`` control command writes."""
    from types import SimpleNamespace

    from celery import Celery
    from celery.worker.control import registered

    app = Celery('decorated', set_as_current=False)

    @app.task(name='app.limited', rate_limit='100/m')
    def limited():
        return None

    @app.task(name='app.plain')
    def plain():
        return None

    entries = registered(SimpleNamespace(app=app))
    assert 'app.limited [rate_limit=100/m]' in entries
    # (shared tasks of other test modules join every app: look at this app's own)
    mine = [split_registered(entry) for entry in entries if entry.startswith('app.')]
    assert mine == [('app.limited', 'rate_limit=100/m'), ('app.plain', '')]
