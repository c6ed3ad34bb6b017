"""Small helpers with no dependencies on the rest of the package (public names kept from Flower)."""

from __future__ import annotations

import os
import secrets
import sys

from flower import __version__

_TRUE = frozenset({'y', 'yes', 't', 'true', 'on', '1'})
_FALSE = frozenset({'n', 'no', 'f', 'false', 'off', '0'})


def strtobool(val: str) -> bool:
    """``'yes'``/``'true'``/``'on'``/``'1'`` (and short forms) are True, their opposites False; anything else
    is a ValueError. (``val``: Flower's parameter name.)"""
    word = str(val).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f'invalid truth value {val!r}')


def gen_cookie_secret() -> str:
    return secrets.token_urlsafe(64)


def abs_path(path: str) -> str:
    """Expand ``~`` and resolve a relative path against the shell's working directory (``$PWD``, which
    survives ``--workdir`` changes) or, without it, the process's."""
    path = os.path.expanduser(path)
    if not os.path.isabs(path):
        path = os.path.join(os.environ.get('PWD') or os.getcwd(), path)
    return path


def prepend_url(url: str, prefix: str | None) -> str:
    """``/x`` under the ``--url_prefix`` (slashes on the prefix are normalised)."""
    prefix = (prefix or '').strip('/')
    if not prefix:
        return url
    return '/' + prefix + ('' if url.startswith('/') else '/') + url


def bugreport(app=None) -> str:
    """Versions of everything that matters, for bug reports (shown on the error page in --debug)."""
    import celery
    import kombu
    import tornado

    lines = [
        f'flower   -> flower:{__version__} tornado:{tornado.version} '
        f'python:{sys.version.split()[0]} platform:{sys.platform}',
        f'celery   -> celery:{celery.__version__} kombu:{kombu.__version__}',
    ]
    try:
        import humanize
        import prometheus_client  # noqa: F401

        lines.append(f'extras   -> humanize:{getattr(humanize, "__version__", "?")}')
    except ImportError:  # pragma: no cover - both are dependencies
        pass
    if app is not None:
        try:
            lines.append(app.bugreport())
        except Exception as exc:  # a report helper must not fail the page that shows it
            lines.append(f'(celery bugreport failed: {exc})')
    return '\n'.join(lines)
