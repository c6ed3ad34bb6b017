"""The command line: ``flower [...]``, ``celery [...] flower [...]`` and ``python -m flower [...]``.

``flower`` (this module's :data:`flower`) is the click command celery finds through the ``celery.commands``
entry point; :func:`main` is the ``flower`` console script, which accepts celery's global options
(``-A``, ``--broker``, ...) anywhere on the line and hands them to celery before the ``flower`` command.
Both end in :func:`run`: resolve options (:mod:`flower.options`), set up logging, build
:class:`~flower.app.Flower`, bind, print the banner, serve until SIGINT/SIGTERM.

Runs on the main thread, which becomes the IOLoop thread.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pprint import pformat

import click

from flower import __version__
from flower.options import (CELERY_FLAG_ARGS, CELERY_VALUE_ARGS, OptionError, Options, help_text, lookup,
                            parse_command_line, resolve)
from flower.utils.authentication import auth_option_problem
from flower.utils.hosts import allowed_hosts_for

logger = logging.getLogger('flower.command')


@click.command(add_help_option=False,
               context_settings={'ignore_unknown_options': True, 'allow_extra_args': True})
@click.argument('tornado_argv', nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def flower(ctx, tornado_argv):
    """Web based tool for monitoring and administrating Celery clusters."""
    quiet = bool(getattr(ctx.obj, 'quiet', False))
    app = ctx.obj.app
    code = run(app, list(tornado_argv), quiet=quiet)
    ctx.exit(code)


def run(capp, argv: list[str], quiet: bool = False, environ=None) -> int:
    """Resolve options, build and serve the app; returns the process exit code."""
    try:
        resolved = resolve(argv, environ)
    except OptionError as exc:
        click.echo(f'Error: {exc}', err=True)
        return 2
    if resolved.help:
        click.echo(help_text())
        return 0
    if resolved.version:
        import celery
        import tornado
        click.echo(f'flower {__version__} (celery {celery.__version__}, tornado {tornado.version})')
        return 0
    options = resolved.options
    capp = _apply_celery_args(capp, resolved.celery_args)
    quiet = quiet or bool(resolved.celery_args.get('quiet'))
    setup_logging(options)
    for warning in resolved.warnings:
        logger.warning(warning)
    problem = auth_option_problem(options.auth) if options.auth else None
    if problem:
        logger.error("Invalid '--auth' option: %s (%s)", options.auth, problem)
        return 1
    if options.broker_api:
        from flower.brokers import BrokerError, validate_broker_api
        try:
            validate_broker_api(options.broker_api)
        except BrokerError as exc:
            logger.error('%s', exc)
            return 1

    from flower.app import Flower  # imported late: building the app imports tornado.web and the views
    try:
        app = Flower(capp=capp, options=options)
    except (RuntimeError, ValueError) as exc:
        logger.error('Cannot start: %s', exc)
        return 1
    try:
        app.start_http_server()
    except OSError as exc:
        where = options.unix_socket or f'{options.address or "0.0.0.0"}:{options.port}'
        logger.error('Cannot listen on %s: %s', where, exc.strerror or exc)
        return 1
    if not quiet:
        print_banner(app, options)
    warn_about_risky_settings(options)

    def shutdown(signum):
        logger.info('Received %s, shutting down', signal.Signals(signum).name)
        app.stop()

    # Handled by the event loop, at a safe point: a plain signal handler runs between any two bytecodes,
    # possibly inside a lock that stopping needs.
    loop = app.io_loop.asyncio_loop
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, shutdown, signum)
    try:
        app.start()
    finally:
        app.stop()
    return 0


def _apply_celery_args(capp, celery_args: dict):
    """Celery options written after ``flower`` (``celery flower --broker=...``): Flower ignores them with a
    warning; we apply them, because that is what the user meant."""
    if not celery_args:
        return capp
    if celery_args.get('app'):
        from celery.app.utils import find_app
        capp = find_app(celery_args['app'])
    if celery_args.get('broker'):
        capp.conf.broker_url = celery_args['broker']
    if celery_args.get('result_backend'):
        capp.conf.result_backend = celery_args['result_backend']
    return capp


def setup_logging(options: Options) -> None:
    from tornado.log import enable_pretty_logging
    level = options.logging
    if options.debug and level == 'info':
        options.logging = 'debug'
    if options.logging and options.logging.lower() != 'none':
        enable_pretty_logging(options)
    logging.getLogger('tornado.access').disabled = not options.debug


def print_banner(app, options: Options) -> None:
    if options.unix_socket:
        logger.info('Visit me via unix socket file: %s', options.unix_socket)
    else:
        scheme = 'https' if options.certfile else 'http'
        address = options.address or '127.0.0.1'
        if ':' in address and not address.startswith('['):
            address = f'[{address}]'
        prefix = options.url_prefix.strip('/') if options.url_prefix else ''
        logger.info('Visit me at %s://%s:%s%s', scheme, address, app.bound_port or options.port,
                    f'/{prefix}/' if prefix else '')
    logger.info('Broker: %s', app.broker_uri)
    logger.info('Registered tasks: \n%s', pformat(sorted(app.capp.tasks.keys())))
    if options.debug:
        logger.debug('Settings: %s', pformat(app.settings))


def warn_about_risky_settings(options: Options, environ=None) -> None:
    if options.state_save_interval and not options.persistent:
        logger.warning('--state_save_interval has no effect without --persistent')
    for warning in security_warnings(options, environ):
        logger.warning('%s', warning)


def security_warnings(options: Options, environ=None) -> list[str]:
    """What an administrator must know about how this server is protected, said at every start."""
    from flower.auth import unauthenticated_api_allowed
    warnings = []
    where = options.unix_socket or f'{options.address or "0.0.0.0"}:{options.port}'
    if not options.basic_auth and not options.auth:
        exposed = ('NO AUTHENTICATION IS CONFIGURED (--basic_auth or --auth). Anyone who can reach '
                   f'{where} sees every page: task names, arguments, keyword arguments, results, exceptions '
                   'and tracebacks, worker names, configuration and statistics, and the broker URL (password '
                   'hidden).')
        if unauthenticated_api_allowed(environ) and options.read_only:
            exposed += (' FLOWER_UNAUTHENTICATED_API is set, so the REST API is open too, for reading only '
                        '(--read_only refuses every call that would run, revoke or terminate tasks or change '
                        'workers): anyone can read the same task and worker data through it.')
        elif unauthenticated_api_allowed(environ):
            exposed += (' FLOWER_UNAUTHENTICATED_API is set, so the REST API is open too: anyone can run, '
                        'revoke and terminate tasks, and shut down, resize and reconfigure workers.')
        else:
            exposed += (' The REST API (and the dashboard\'s control buttons) stays closed until authentication '
                        'is configured or FLOWER_UNAUTHENTICATED_API is set.')
        exposed += ' /metrics and /healthcheck are always public.'
        if allowed_hosts_for(options.allowed_hosts, options.address, options.unix_socket, False).any_host:
            exposed += (' Any Host name is answered, so a web page opened in a browser that can reach this server '
                        'can read it through DNS rebinding: set --allowed_hosts to the names you use (for '
                        'example --allowed_hosts=flower.example.com), or bind --address=127.0.0.1, which '
                        'answers only loopback names.')
        warnings.append(exposed)
    if options.auth and not options.auth_provider:
        warnings.append('--auth is set without --auth_provider: nobody can log in with an e-mail address (use '
                        'e.g. --auth_provider=flower.views.auth.GoogleAuth2LoginHandler)' +
                        (', only --basic_auth users get in.' if options.basic_auth else '.'))
    if options.auth_provider and not options.auth:
        warnings.append('--auth_provider is set without --auth: login sessions are not checked, so the pages '
                        'are open to everyone' + (' but --basic_auth users.' if options.basic_auth else '.'))
    builtin_provider = (options.auth_provider or '').startswith('flower.views.auth.')
    if options.auth and builtin_provider and not (options.oauth2_key and options.oauth2_secret):
        warnings.append(f'--auth_provider={options.auth_provider} needs --oauth2_key and --oauth2_secret (or '
                        'FLOWER_OAUTH2_KEY and FLOWER_OAUTH2_SECRET): until then the login page says it is not '
                        'configured.')
    if options.cookie_secret_is_random and (options.auth or options.auth_provider):
        warnings.append('--cookie_secret is not set, so a random one signs the login cookies: every session '
                        'ends when Flower restarts, and several Flower processes do not accept each other\'s '
                        'sessions. Set --cookie_secret (or FLOWER_COOKIE_SECRET) to a long random value kept '
                        'secret.')
    return warnings


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """Separate celery's global options from flower's, wherever they appear, and drop a ``flower`` token
    (``python -m flower -A proj flower --port=5555`` is Flower's way of writing it)."""
    celery_args: list[str] = []
    flower_args: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        head = arg.split('=', 1)[0]
        if head in CELERY_VALUE_ARGS:
            celery_args.append(arg)
            if '=' not in arg and i + 1 < len(argv):
                celery_args.append(argv[i + 1])
                i += 1
        elif arg in CELERY_FLAG_ARGS or (arg.startswith('-A') and len(arg) > 2):
            celery_args.append(arg)
        elif arg == 'flower':
            pass
        else:
            flower_args.append(arg)
            if arg.startswith('--') and '=' not in arg and i + 1 < len(argv) and _takes_value(arg):
                flower_args.append(argv[i + 1])
                i += 1
        i += 1
    return celery_args, flower_args


def _takes_value(flag: str) -> bool:
    try:
        option = lookup(flag)
    except OptionError:
        return False
    return option.type is not bool


def main(argv: list[str] | None = None) -> None:
    """The ``flower`` console script (and ``python -m flower``).

    Celery's own options are applied here the way ``celery`` applies them (environment variables for the
    broker, backend, loader and config module, then the app), without loading celery's whole command-line
    tool, which would double the start-up time.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == 'demo':
        from flower.demo import main as demo_main
        sys.exit(demo_main(argv[1:]))
    celery_argv, flower_args = split_argv(argv)
    try:
        celery_args = parse_command_line(celery_argv).celery_args
        capp = load_celery_app(celery_args)
    except (OptionError, AppNotFound) as exc:
        click.echo(f'Error: {exc}', err=True)
        sys.exit(2)
    sys.exit(run(capp, flower_args, quiet=bool(celery_args.get('quiet'))))


class AppNotFound(Exception):
    """``-A`` names something that is not a Celery app."""


def load_celery_app(celery_args: dict):
    """The Celery app for ``-A``/``--broker``/... as the ``celery`` command would build it."""
    environ_for = {'broker': 'CELERY_BROKER_URL', 'result_backend': 'CELERY_RESULT_BACKEND',
                   'loader': 'CELERY_LOADER', 'config': 'CELERY_CONFIG_MODULE'}
    for name, variable in environ_for.items():
        if celery_args.get(name):
            os.environ[variable] = celery_args[name]
    if celery_args.get('workdir'):
        os.chdir(celery_args['workdir'])
    if celery_args.get('app'):
        from celery.app.utils import find_app
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # as celery does: -A modules are found from here
        try:
            return find_app(celery_args['app'])
        except ModuleNotFoundError as exc:
            raise AppNotFound(f"Unable to load celery application: the module {exc.name} was not found") \
                from None
        except AttributeError as exc:
            raise AppNotFound(f"Unable to load celery application: {exc}") from None
    from celery import current_app
    return current_app._get_current_object()
