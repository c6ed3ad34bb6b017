"""A caller's own ``ui_modules`` and ``ui_methods`` (tornado settings passed to ``Flower(**settings)``) add to the
server's: the pages' fragments (``WorkersRows``...) and helpers (``humanize``) stay available to templates."""

from __future__ import annotations

import tornado.web
from celery import Celery

from flower.app import Flower


class Shout(tornado.web.UIModule):
    def render(self, text):
        return text.upper()


def _app(**settings) -> Flower:
    return Flower(
        capp=Celery('t', broker='memory://', set_as_current=False), options={'enable_events': False}, **settings
    )


def test_the_servers_modules_and_methods_are_registered():
    app = _app()
    assert 'WorkersRows' in app.ui_modules
    assert 'humanize' in app.ui_methods


def test_a_callers_modules_and_methods_add_to_the_servers():
    app = _app(ui_modules={'Shout': Shout}, ui_methods={'twice': lambda handler, text: text * 2})
    assert app.ui_modules['Shout'] is Shout
    assert 'WorkersRows' in app.ui_modules  # the dashboards' fragments still render
    assert app.ui_methods['twice'](None, 'ab') == 'abab'
    assert app.ui_methods['humanize'](None, 'task_received') == 'Task received'


def test_a_callers_module_of_the_same_name_wins():
    class MyRows(tornado.web.UIModule):
        def render(self, *args):
            return 'mine'

    app = _app(ui_modules={'WorkersRows': MyRows})
    assert app.ui_modules['WorkersRows'] is MyRows
