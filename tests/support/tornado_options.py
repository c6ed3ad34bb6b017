"""Put tornado's global options object back as it was after a test that writes into it (the command, the
Flower-style adapters and a user's ``options.x = ...`` all write there, and every later test of the process
shares it), together with ``flower.urls.settings``, which :func:`flower.command.extract_settings` fills."""

from __future__ import annotations

import contextlib

from flower.options import options


@contextlib.contextmanager
def restored_tornado_options():
    from flower import urls

    records = dict(options._options)
    values = {name: record._value for name, record in records.items()}
    settings = dict(urls.settings)
    try:
        yield options
    finally:
        for name in list(options._options):
            if name not in records:  # defined by the test
                del options._options[name]
        for name, value in values.items():
            records[name]._value = value
        urls.settings.clear()
        urls.settings.update(settings)
