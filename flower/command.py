"""The command line: ``flower [...]``, ``celery [...] flower [...]`` and ``python -m flower [...]``.

``flower`` (this module's :data:`flower`) is the click command celery finds through the ``celery.commands``
entry point; :func:`main` is the ``flower`` console script, which accepts celery's global options
(``-A``, ``--broker``, ...) anywhere on the line and hands them to celery before the ``flower`` command.
Both end in :func:`run`: resolve options (:mod:`flower.options`), write them into tornado's options object
(which the application reads), set up logging, build :class:`~flower.app.Flower`, bind, log the banner, serve
until SIGINT/SIGTERM.

Flower 2.2's public names are here too, with its signatures and meaning, for scripts that start the server
the way Flower's command does (``apply_env_options(); apply_options(prog, argv); extract_settings();
setup_logging(); Flower(capp=..., options=options, **settings)``): thin adapters over the same resolution,
validation and messages.

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
from flower.identity import unauthenticated_api_allowed
from flower.brokers import BrokerError
from flower.brokers import validate_broker_api as check_broker_api
from flower.options import DEFAULT_CONFIG_FILE  # noqa: F401 - a name of Flower's flower.command
from flower.options import (
    ALL_OPTIONS,
    CELERY_FLAG_ARGS,
    CELERY_VALUE_ARGS,
    ENV_PREFIX,
    OptionError,
    Options,
    current_values,
    default_options,
    help_text,
    layer_over,
    options,
    options_from_environment,
    parse_command_line,
    publish,
    resolve,
    split_argv,
    validate,
)
from flower.utils import abs_path, prepend_url, strtobool  # noqa: F401 - strtobool: Flower's name here
from flower.utils.authentication import auth_option_problem
from flower.utils.authentication import validate_auth_option  # noqa: F401 - a name of Flower's flower.command
from flower.utils.broker import validate_broker_api  # noqa: F401 - a name of Flower's flower.command

# Flower's name: tornado's parser of a config file into tornado's global options, where every Flower option
# is defined (see flower.options); the command itself reads --conf through flower.options
from tornado.options import parse_config_file  # noqa: F401
from flower.utils.hosts import allowed_hosts_for

logger = logging.getLogger('flower.command')

ENV_VAR_PREFIX = ENV_PREFIX  # Flower's name


@click.command(add_help_option=False, context_settings={'ignore_unknown_options': True, 'allow_extra_args': True})
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
    try:
        publish(options)  # tornado's options object: what the app, extensions and providers read
    except OptionError as exc:
        click.echo(f'Error: {exc}', err=True)
        return 2
    capp = _apply_celery_args(capp, resolved.celery_args)
    quiet = quiet or bool(resolved.celery_args.get('quiet'))
    configure_logging(default_options)
    for warning in resolved.warnings:
        logger.warning(warning)
    problem = auth_option_problem(options.auth) if options.auth else None
    if problem:
        logger.error("Invalid '--auth' option: %s (%s)", options.auth, problem)
        return 1
    if options.broker_api:
        try:
            check_broker_api(options.broker_api)
        except BrokerError as exc:
            logger.error('%s', exc)
            return 1

    # imported here, not at the top: celery imports this module for every `celery` command (the entry point),
    # and the app brings tornado.web and every view with it; there is no import cycle behind this
    from flower.app import Flower

    try:
        app = Flower(capp=capp, options=default_options)
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
        log_banner(app, options)
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


def configure_logging(options) -> None:
    """Logging as the options say: tornado's pretty logging at ``--logging`` (``debug`` under ``--debug``),
    the access log only under ``--debug``."""
    from tornado.log import enable_pretty_logging

    level = options.logging
    if options.debug and level == 'info':
        options.logging = 'debug'
    if options.logging and options.logging.lower() != 'none':
        enable_pretty_logging(options)
    logging.getLogger('tornado.access').disabled = not options.debug


def setup_logging():
    """Flower's name: :func:`configure_logging` from tornado's options object."""
    configure_logging(options)


def log_banner(app, options) -> None:
    """Where the server :class:`~flower.app.Flower` ``app`` listens, its broker and its tasks."""
    _log_where(options, ssl=bool(options.certfile), port=app.bound_port or options.port)
    _log_broker_and_tasks(app.broker_uri, app.capp)
    if options.debug:
        logger.debug('Settings: %s', pformat(app.settings))


def print_banner(app, ssl, port=None):
    """Flower's banner: ``app`` is the Celery app, ``ssl`` whether the server speaks HTTPS, ``port`` the
    bound port (the ``--port`` option when not given); the rest comes from tornado's options object."""
    _log_where(options, ssl=bool(ssl), port=port if port is not None else options.port)
    with app.connection() as conn:
        broker = conn.as_uri()
    _log_broker_and_tasks(broker, app)
    logger.debug('Settings: %s', pformat(__getattr__('settings')))


def _log_where(options, ssl: bool, port) -> None:
    if options.unix_socket:
        logger.info('Visit me via unix socket file: %s', options.unix_socket)
        return
    address = options.address or '127.0.0.1'
    if ':' in address and not address.startswith('['):
        address = f'[{address}]'
    prefix = options.url_prefix.strip('/') if options.url_prefix else ''
    logger.info('Visit me at %s://%s:%s%s', 'https' if ssl else 'http', address, port, f'/{prefix}/' if prefix else '')


def _log_broker_and_tasks(broker_uri: str, capp) -> None:
    logger.info('Broker: %s', broker_uri)
    logger.info('Registered tasks: \n%s', pformat(sorted(capp.tasks.keys())))


def warn_about_risky_settings(options: Options, environ=None) -> None:
    if options.state_save_interval and not options.persistent:
        logger.warning('--state_save_interval has no effect without --persistent')
    for warning in security_warnings(options, environ):
        logger.warning('%s', warning)


def security_warnings(options: Options, environ=None) -> list[str]:
    """What an administrator must know about how this server is protected, said at every start."""
    warnings = []
    where = options.unix_socket or f'{options.address or "0.0.0.0"}:{options.port}'
    if not options.basic_auth and not options.auth:
        exposed = (
            'NO AUTHENTICATION IS CONFIGURED (--basic_auth or --auth). Anyone who can reach '
            f'{where} sees every page: task names, arguments, keyword arguments, results, exceptions '
            'and tracebacks, worker names, configuration and statistics, and the broker URL (password '
            'hidden).'
        )
        if unauthenticated_api_allowed(environ) and options.read_only:
            exposed += (
                ' FLOWER_UNAUTHENTICATED_API is set, so the REST API is open too, for reading only '
                '(--read_only refuses every call that would run, revoke or terminate tasks or change '
                'workers): anyone can read the same task and worker data through it.'
            )
        elif unauthenticated_api_allowed(environ):
            exposed += (
                ' FLOWER_UNAUTHENTICATED_API is set, so the REST API is open too: anyone can run, '
                'revoke and terminate tasks, and shut down, resize and reconfigure workers.'
            )
        else:
            exposed += (
                ' The REST API (and the dashboard\'s control buttons) stays closed until authentication '
                'is configured or FLOWER_UNAUTHENTICATED_API is set.'
            )
        exposed += ' /metrics and /healthcheck are always public.'
        if allowed_hosts_for(options.allowed_hosts, options.address, options.unix_socket, False).any_host:
            exposed += (
                ' Any Host name is answered, so a web page opened in a browser that can reach this server '
                'can read it through DNS rebinding: set --allowed_hosts to the names you use (for '
                'example --allowed_hosts=flower.example.com), or bind --address=127.0.0.1, which '
                'answers only loopback names.'
            )
        warnings.append(exposed)
    if options.auth and not options.auth_provider:
        warnings.append(
            '--auth is set without --auth_provider: nobody can log in with an e-mail address (use '
            'e.g. --auth_provider=flower.views.auth.GoogleAuth2LoginHandler)'
            + (', only --basic_auth users get in.' if options.basic_auth else '.')
        )
    if options.auth_provider and not options.auth:
        warnings.append(
            '--auth_provider is set without --auth: login sessions are not checked, so the pages '
            'are open to everyone' + (' but --basic_auth users.' if options.basic_auth else '.')
        )
    builtin_provider = (options.auth_provider or '').startswith('flower.views.auth.')
    if options.auth and builtin_provider and not (options.oauth2_key and options.oauth2_secret):
        warnings.append(
            f'--auth_provider={options.auth_provider} needs --oauth2_key and --oauth2_secret (or '
            'FLOWER_OAUTH2_KEY and FLOWER_OAUTH2_SECRET): until then the login page says it is not '
            'configured.'
        )
    if options.cookie_secret_is_random and (options.auth or options.auth_provider):
        warnings.append(
            '--cookie_secret is not set, so a random one signs the login cookies: every session '
            'ends when Flower restarts, and several Flower processes do not accept each other\'s '
            'sessions. Set --cookie_secret (or FLOWER_COOKIE_SECRET) to a long random value kept '
            'secret.'
        )
    return warnings


# -- Flower 2.2's names, for scripts that start the server the way Flower's command does ---------------


def sigterm_handler(signum, _):
    """Flower's SIGTERM handler for ``signal.signal``: log and leave through ``SystemExit`` (so ``atexit``
    handlers, such as a registered ``app.stop``, run). :func:`run` itself stops on the event loop instead."""
    logger.info('%s detected, shutting down', signum)
    sys.exit(0)


def apply_env_options():
    """Apply the ``FLOWER_<NAME>`` environment variables to tornado's options object (converted and checked
    as the command checks them; a bad value raises :class:`~flower.options.OptionError`)."""
    values, warnings = options_from_environment(os.environ)
    for warning in warnings:
        logger.warning('%s', warning)
    validate(Options({**current_values(options), **values}))
    publish(values)


def apply_options(prog_name, argv):
    """Apply the command line ``argv`` (without the program name; ``prog_name`` is used in ``--help``) and
    the config file it or the options name (``--conf``) to tornado's options object, over what the object
    holds (``FLOWER_*`` variables after :func:`apply_env_options`): command line > config file > the rest.

    Celery's options and a ``flower`` word are left out, as Flower leaves them out; options defined on
    tornado's object by other code are parsed by tornado. A misspelt option is an error that names the right
    one (Flower drops it silently). ``--help`` prints the options and exits."""
    _, flower_args = split_argv(list(argv))
    ours, theirs = _own_and_foreign_arguments(flower_args)
    cli = parse_command_line(ours)
    if cli.help:
        click.echo(help_text(os.path.basename(prog_name or 'flower')))
        sys.exit(0)
    base = current_values(options)
    changed = {
        name: 'options object'
        for name, value in base.items()
        if name != 'cookie_secret' and value != ALL_OPTIONS[name].default
    }
    resolved, warnings = layer_over(base, changed, cli.values)
    for warning in warnings:
        logger.warning('%s', warning)
    publish(resolved)
    if theirs:
        options.parse_command_line([prog_name, *theirs], final=False)


def _own_and_foreign_arguments(args: list[str]) -> tuple[list[str], list[str]]:
    """Split ``--name[=value]`` arguments into ours (and unknown ones, which our parser reports) and those
    of options other code defined on tornado's object (tornado parses them; they take ``=value``)."""
    ours: list[str] = []
    theirs: list[str] = []
    for arg in args:
        name = arg.lstrip('-').partition('=')[0].replace('-', '_')
        foreign = arg.startswith('--') and name in options and name not in ALL_OPTIONS and name != 'help'
        (theirs if foreign else ours).append(arg)
    return ours, theirs


def extract_settings():
    """Fill ``flower.urls.settings`` (also ``flower.command.settings``) from tornado's options object, as
    Flower does, so that ``Flower(capp=..., options=options, **settings)`` works: ``debug``,
    ``cookie_secret``, ``login_url`` and ``static_url_prefix`` under ``--url_prefix``, ``oauth`` under
    ``--auth``, ``ssl_options`` under ``--certfile``/``--keyfile``. A bad ``--auth``, ``--broker_api`` or a
    lone certificate file is logged and exits 1. Safe to call again (nothing is prefixed twice)."""
    settings = __getattr__('settings')
    settings['debug'] = options.debug
    if options.cookie_secret:
        settings['cookie_secret'] = options.cookie_secret
    settings['login_url'] = prepend_url('/login', options.url_prefix)
    settings['static_url_prefix'] = prepend_url('/static/', options.url_prefix)
    settings.pop('oauth', None)
    if options.auth:
        settings['oauth'] = {
            'key': options.oauth2_key or os.environ.get('FLOWER_OAUTH2_KEY'),
            'secret': options.oauth2_secret or os.environ.get('FLOWER_OAUTH2_SECRET'),
            'redirect_uri': options.oauth2_redirect_uri or os.environ.get('FLOWER_OAUTH2_REDIRECT_URI'),
        }
    settings.pop('ssl_options', None)
    if options.certfile and options.keyfile:
        settings['ssl_options'] = {'certfile': abs_path(options.certfile), 'keyfile': abs_path(options.keyfile)}
        if options.ca_certs:
            settings['ssl_options']['ca_certs'] = abs_path(options.ca_certs)
    elif options.certfile or options.keyfile:
        logger.error("Both 'certfile' and 'keyfile' are required to enable SSL")
        sys.exit(1)
    problem = auth_option_problem(options.auth) if options.auth else None
    if problem:
        logger.error("Invalid '--auth' option: %s (%s)", options.auth, problem)
        sys.exit(1)
    if options.broker_api:
        try:
            check_broker_api(options.broker_api)
        except BrokerError as exc:
            logger.error('%s', exc)
            sys.exit(1)


def is_flower_option(arg):
    """Whether the command-line argument ``arg`` (``--name=value``) names an option defined on tornado's
    options object (ours, tornado's logging options, or one other code defined)."""
    name = arg.lstrip('-').partition('=')[0].replace('-', '_')
    return bool(name) and name in options


def is_flower_envvar(name):
    """Whether the environment variable ``name`` is ``FLOWER_<an option defined on tornado's object>``."""
    return name.startswith(ENV_VAR_PREFIX) and name[len(ENV_VAR_PREFIX) :].lower() in default_options


def warn_about_celery_args_used_in_flower_command(ctx, flower_args):
    """Warn about celery's own options written after ``flower`` (``celery flower --broker=...``); returns
    them. ``ctx`` is the flower command's click context (its parent's parameters are celery's options; our
    table of them when there is none)."""
    parent = getattr(ctx, 'parent', None)
    params = getattr(getattr(parent, 'command', None), 'params', None)
    if params is not None:
        celery_options = {opt for param in params for opt in param.opts}
    else:
        celery_options = set(CELERY_VALUE_ARGS) | set(CELERY_FLAG_ARGS)
    misplaced = [arg.partition('=')[0] for arg in flower_args if arg.partition('=')[0] in celery_options]
    if misplaced:
        logger.warning(
            'Celery options given after the flower command: %s. Write them before it: '
            'celery [celery options] flower [flower options].',
            misplaced,
        )
    return misplaced


def __getattr__(name):
    # Flower's module has these names; they are imported on first use, so that loading this module (which
    # celery does for every `celery` command, through the entry point) does not import the web layer.
    if name == 'settings':
        from flower.urls import settings

        return settings
    if name == 'Flower':
        from flower.app import Flower

        return Flower
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def main(argv: list[str] | None = None) -> None:
    """The server's command line: what the ``flower`` console script and ``python -m flower`` run for anything
    but a subcommand (those, ``flower demo``, are found in :mod:`flower.__main__`, which this module never imports).

    Celery's own options are applied here the way ``celery`` applies them (environment variables for the
    broker, backend, loader and config module, then the app), without loading celery's whole command-line
    tool, which would double the start-up time.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
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
    environ_for = {
        'broker': 'CELERY_BROKER_URL',
        'result_backend': 'CELERY_RESULT_BACKEND',
        'loader': 'CELERY_LOADER',
        'config': 'CELERY_CONFIG_MODULE',
    }
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
            raise AppNotFound(f"Unable to load celery application: the module {exc.name} was not found") from None
        except AttributeError as exc:
            raise AppNotFound(f"Unable to load celery application: {exc}") from None
    from celery import current_app

    return current_app._get_current_object()
