"""``flower demo [demo options] [flower options]``: parse the demo's own options, check flower's, start the
demo cluster (:mod:`flower.demo.cluster`), serve it with the ordinary server (:func:`flower.command.run`, so
every flower option applies), and take everything down again on Ctrl-C, SIGTERM or SIGHUP.

Runs on the main thread, which becomes the server's IOLoop thread inside :func:`flower.command.run`.

Signals: before the server runs, SIGINT and SIGTERM raise ``KeyboardInterrupt``, so a stop request during
start-up unwinds through the same ``finally``; once it runs, :func:`flower.command.run` handles
SIGINT/SIGTERM in the event loop and returns. SIGHUP (the terminal closed) is passed on as SIGTERM, which
reaches whichever handler is current. While the cluster stops, another SIGINT/SIGTERM kills the children at
once instead of waiting for their warm shutdown.
"""

from __future__ import annotations

import difflib
import logging
import os
import secrets
import signal
import textwrap
from typing import Any, Callable
from dataclasses import dataclass, field, replace

import click
from celery import Celery

from flower.identity import unauthenticated_api_allowed
from flower.command import configure_logging, run
from flower.demo.cluster import DemoCluster, DemoSettings, remove_stale_folders
from flower.options import (
    ALL_OPTIONS,
    CELERY_FLAG_ARGS,
    CELERY_VALUE_ARGS,
    OptionError,
    lookup,
    normalise_name,
    resolve,
)

logger = logging.getLogger('flower.demo')

POOLS = ('prefork', 'threads', 'solo')
LOG_LEVELS = ('debug', 'info', 'warning', 'error', 'critical')
MAX_RATE = 1000.0
DEMO_USER = 'demo'  # the login made for a demo started without one


class DemoOptionError(ValueError):
    """A demo option or its value is not acceptable; the message says which and why."""


@dataclass(frozen=True)
class DemoOption:
    name: str
    metavar: str
    help: str
    convert: Callable[[str, str], Any]  # (raw, flag) -> value, raising DemoOptionError

    @property
    def flag(self) -> str:
        return '--' + self.name


def _integer(low: int, high: int):
    def convert(raw: str, flag: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise DemoOptionError(f"Invalid value {raw!r} for option '{flag}': expected a whole number") from None
        if not low <= value <= high:
            raise DemoOptionError(f"Invalid value {value} for option '{flag}': expected {low} to {high}")
        return value

    return convert


def _rate(raw: str, flag: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise DemoOptionError(
            f"Invalid value {raw!r} for option '{flag}': expected a number of tasks per second"
        ) from None
    if not 0 <= value <= MAX_RATE:  # also refuses nan
        raise DemoOptionError(
            f"Invalid value {raw} for option '{flag}': expected 0 to {MAX_RATE:g} (0 starts no producer)"
        )
    return value


def _choice(choices: tuple[str, ...]):
    def convert(raw: str, flag: str) -> str:
        if raw.lower() not in choices:
            raise DemoOptionError(f"Invalid value {raw!r} for option '{flag}': expected one of {', '.join(choices)}")
        return raw.lower()

    return convert


DEFAULTS = DemoSettings()
DEMO_OPTIONS = {
    option.name: option
    for option in (
        DemoOption(
            'workers', 'N', f'Celery worker processes to start, 1 to 16 (default {DEFAULTS.workers})', _integer(1, 16)
        ),
        DemoOption(
            'concurrency',
            'N',
            f'pool processes (or threads) per worker, 1 to 64 (default {DEFAULTS.concurrency})',
            _integer(1, 64),
        ),
        DemoOption('pool', 'NAME', f'worker pool: {", ".join(POOLS)} (default {DEFAULTS.pool})', _choice(POOLS)),
        DemoOption(
            'rate',
            'TASKS_PER_SECOND',
            f'tasks the producer sends per second, 0 to {MAX_RATE:g}; 0 starts no producer (default {DEFAULTS.rate:g})',
            _rate,
        ),
        DemoOption(
            'max_folder_mb',
            'MB',
            'disk budget of the demo folder for messages and results, 10 to 100000 '
            f'(default {DEFAULTS.max_folder_mb}); logs take up to 2 MB per process on top',
            _integer(10, 100_000),
        ),
        DemoOption(
            'worker_log_level',
            'LEVEL',
            f'log level of the workers: {", ".join(LOG_LEVELS)} (default {DEFAULTS.log_level})',
            _choice(LOG_LEVELS),
        ),
    )
}
_SETTING_OF = {'worker_log_level': 'log_level'}

# celery's global options that would point the server at another app or broker than the demo's
FOREIGN_CELERY_ARGS = ('app', 'broker', 'result_backend', 'loader', 'config', 'workdir')


@dataclass
class DemoCommandLine:
    settings: DemoSettings
    flower_argv: list[str] = field(default_factory=list)
    help: bool = False


def parse(argv: list[str]) -> DemoCommandLine:
    """Take the demo's options out of ``argv``; the rest is left for flower's own parser. An option neither
    knows is an error that names it."""
    values: dict = {}
    rest: list[str] = []
    show_help = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg in ('-h', '--help'):
            show_help = True
            continue
        if not arg.startswith('--') or len(arg) == 2:
            rest.append(arg)
            continue
        head, has_value, value = arg.partition('=')
        name = normalise_name(head)
        option = DEMO_OPTIONS.get(name)
        if option is None:
            _check_flower_option(head)
            rest.append(arg)
            continue
        if not has_value:
            if i >= len(argv) or argv[i].startswith('--'):
                raise DemoOptionError(f"Option '{option.flag}' requires a value ({option.metavar})")
            value, i = argv[i], i + 1
        values[_SETTING_OF.get(name, name)] = option.convert(value, option.flag)
    return DemoCommandLine(replace(DEFAULTS, **values), rest, show_help)


def _check_flower_option(head: str) -> None:
    if head in CELERY_VALUE_ARGS or head in CELERY_FLAG_ARGS or head == '--version':
        return  # flower's parser takes these (and main() refuses the ones that would replace the demo's app)
    try:
        lookup(head)
    except OptionError:
        key = normalise_name(head)
        close = difflib.get_close_matches(key, [*DEMO_OPTIONS, *ALL_OPTIONS], n=1, cutoff=0.75)
        hint = f" (did you mean '--{close[0]}'?)" if close else ''
        raise DemoOptionError(
            f"Unknown option '{head}'{hint}. Run 'flower demo --help' for the demo's options "
            "and 'flower --help' for the server's."
        ) from None


def help_text() -> str:
    lines = [
        'Usage: flower demo [demo options] [flower options]',
        '',
        'Runs a small Celery cluster on a broker that needs no server (kombu\'s filesystem transport in a',
        'temporary folder): Celery workers, a producer sending a steady mix of tasks (fast, slow, failing,',
        'retrying, scheduled, with large and odd arguments), and the flower server watching them. Ctrl-C',
        'stops everything and removes the folder.',
        '',
        'Unless you give a login (--basic_auth, --auth), the demo makes one for the run and prints it at',
        'start: the REST API, which the dashboard\'s controls call, stays closed without one.',
        '',
        'Demo options:',
    ]
    for option in DEMO_OPTIONS.values():
        flag = f'  {option.flag}={option.metavar}'
        text = textwrap.wrap(option.help, 110 - 30)
        lines.append(f'{flag:<29} {text[0]}' if len(flag) < 29 else f'{flag}\n{"":<29} {text[0]}')
        lines.extend(f'{"":<29} {more}' for more in text[1:])
    lines += [
        '',
        'Every flower option works as well (--port, --address, --basic_auth, --max_tasks, ...):',
        "run 'flower --help' to list them. The demo brings its own Celery app and broker, so -A/--app,",
        '-b/--broker and --result-backend are refused.',
        '',
        'Examples:',
        '  flower demo',
        '  flower demo --port=8080 --basic_auth=admin:secret',
        '  flower demo --pool=threads --concurrency=16 --rate=100   # as a load generator',
    ]
    return '\n'.join(lines)


def main(argv: list[str]) -> int:
    """``flower demo ...``; returns the exit code."""
    if os.name != 'posix':
        click.echo('Error: flower demo needs a POSIX system (Linux, macOS, BSD)', err=True)
        return 2
    try:
        command = parse(list(argv))
    except DemoOptionError as exc:
        click.echo(f'Error: {exc}', err=True)
        return 2
    if command.help:
        click.echo(help_text())
        return 0
    try:
        resolved = resolve(command.flower_argv)
    except OptionError as exc:
        click.echo(f'Error: {exc}', err=True)
        return 2
    if resolved.version:
        return run(Celery(set_as_current=False), command.flower_argv)
    foreign = [name for name in FOREIGN_CELERY_ARGS if resolved.celery_args.get(name)]
    if foreign:
        flags = ', '.join('--' + name.replace('_', '-') for name in foreign)
        click.echo(f'Error: flower demo runs its own Celery app and broker; it does not take {flags}', err=True)
        return 2
    configure_logging(resolved.options)
    flower_argv, login = with_demo_login(command.flower_argv, resolved.options)
    return serve(command.settings, flower_argv, quiet=bool(resolved.celery_args.get('quiet')), login=login)


def with_demo_login(flower_argv: list[str], options) -> tuple[list[str], tuple[str, str] | None]:
    """The server's arguments with a login of the demo's own, and that ``(user, password)``.

    Without authentication Flower keeps its REST API closed, and every control of the dashboard answers 401: the
    demo would not show the product working. Opening the API instead would let anything that reaches the port
    (the default address is every interface) or any web page the user visits drive it; a password made for this
    run and printed at start is safe wherever the demo listens. A login the user configured
    (``--basic_auth``, ``--auth``) or an API they opened (``FLOWER_UNAUTHENTICATED_API``) is left as it is."""
    if options.basic_auth or options.auth or unauthenticated_api_allowed():
        return flower_argv, None
    login = (DEMO_USER, secrets.token_urlsafe(12))
    return [*flower_argv, f'--basic_auth={login[0]}:{login[1]}'], login


def serve(
    settings: DemoSettings, flower_argv: list[str], quiet: bool = False, login: tuple[str, str] | None = None
) -> int:
    cluster = DemoCluster(settings)
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    # explicitly for SIGINT too: a process started in the background by a shell inherits it ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGHUP, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
    code = 0
    try:
        for path in remove_stale_folders():
            logger.info('Removed %s, left behind by a demo that was killed', path)
        layout = cluster.start()
        logger.info('Demo folder: %s', layout.root)
        logger.info(
            '%d worker%s (%s pool, concurrency %d), %s; logs in %s',
            settings.workers,
            's' if settings.workers > 1 else '',
            settings.pool,
            settings.concurrency,
            f'a producer sending {settings.rate:g} tasks/s' if settings.rate else 'no producer',
            layout.logs,
        )
        if login:
            logger.info(
                "Log in as user '%s' with password '%s' (made for this run; --basic_auth=USER:PASSWORD "
                "sets your own). The dashboard's controls and the REST API take the same login, e.g. "
                "curl -u %s:%s ...",
                *login,
                *login,
            )
        from flower.demo import tasks  # configured from the folder the cluster just created

        code = run(tasks.app, flower_argv, quiet=quiet)
    except KeyboardInterrupt:
        code = 0
    finally:
        signal.signal(signal.SIGINT, lambda *_: cluster.hurry())
        signal.signal(signal.SIGTERM, lambda *_: cluster.hurry())
        logger.info('Stopping the demo cluster')
        cluster.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return code
