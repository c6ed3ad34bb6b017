"""Every command-line option the server accepts, and how a value for one is found.

Owns the option table (Flower's 32 options, tornado's logging options, and ours), value conversion, and
the precedence rule: command line > config file (``--conf``) > ``FLOWER_*`` environment variables >
defaults. Nothing else reads ``sys.argv``, the config file or ``FLOWER_*`` variables for options: the result
is one validated :class:`Options` object. One walker (:func:`walk`) groups the words of a command line, for
both :func:`parse_command_line` and :func:`split_argv` (celery's arguments from flower's), and one function
(:func:`layer_over`) layers the sources, for the command (:func:`resolve`) and for Flower's adapters in
:mod:`flower.command` alike.

As in Flower, every option of the table is also defined on tornado's global ``tornado.options.options``
(exported here as :data:`options` and :data:`default_options`), and :mod:`flower.command` writes the validated
values into it (:func:`publish`). The application reads it through a :class:`LiveOptions` view at request time,
so code that changes an option at run time (``options.read_only = True``, ``mock.patch.object(
options.mockable(), ...)``) is seen by every handler; nothing copies a value at start-up.

Resolution runs on the main thread at start-up; the options object is read on the IOLoop thread.
"""

from __future__ import annotations

import collections.abc
import difflib
import os
import re
import runpy
import secrets
import types
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import tornado.options
from prometheus_client import Histogram

from flower.utils import strtobool
from flower.utils.hosts import AllowedHosts

DEFAULT_CONFIG_FILE = 'flowerconfig.py'
ENV_PREFIX = 'FLOWER_'
SUGGESTION_CUTOFF = 0.75  # how alike a misspelt name and an option must be for the option to be suggested

# FLOWER_* variables that are read directly by the parts that need them, not options.
DIRECT_ENV_VARIABLES = frozenset(
    {
        'FLOWER_UNAUTHENTICATED_API',
        'FLOWER_GITHUB_OAUTH_DOMAIN',
        'FLOWER_GITLAB_OAUTH_DOMAIN',
        'FLOWER_GITLAB_AUTH_ALLOWED_GROUPS',
        'FLOWER_GITLAB_MIN_ACCESS_LEVEL',
        'FLOWER_OAUTH2_OKTA_BASE_URL',
        'FLOWER_DATA_DIR',
    }
)


class OptionError(ValueError):
    """A value or name given for an option is not acceptable; the message says which and why."""


@dataclass(frozen=True)
class Option:
    name: str
    type: type | str  # int, float, str, bool, 'function', or 'duration' (seconds, from values like 7d)
    default: Any
    help: str
    multiple: bool = False
    group: str = 'Flower'
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return '--' + self.name

    def type_name(self) -> str:
        names = {
            int: 'an integer',
            float: 'a number',
            str: 'a string',
            bool: 'a boolean (true/false)',
            'function': 'a function',
            'duration': 'a duration such as 7d, 12h, 30m or 90s',
        }
        base = names[self.type]
        return f'a comma-separated list of {base[2:] if base.startswith("a ") else base}s' if self.multiple else base

    def convert(self, raw: Any, source: str) -> Any:
        """Turn ``raw`` (a string from the command line or environment, or any Python value from the config
        file) into this option's type, or raise :class:`OptionError` naming the option and the type."""
        try:
            if self.multiple:
                items = raw.split(',') if isinstance(raw, str) else list(raw)
                return [
                    self._convert_one(item.strip() if isinstance(item, str) else item)
                    for item in items
                    if not (isinstance(item, str) and not item.strip())
                ]
            return self._convert_one(raw)
        except (TypeError, ValueError) as exc:
            raise OptionError(
                f"Invalid value {raw!r} for option '{self.flag}' (from {source}): expected {self.type_name()}"
            ) from exc

    def _convert_one(self, raw: Any) -> Any:
        if raw is None:
            return None
        if self.type == 'function':
            if not callable(raw):
                raise TypeError(raw)
            return raw
        if self.type == 'duration':
            return parse_duration(raw)
        if self.type is bool:
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, int):
                return bool(raw)
            return strtobool(str(raw))
        if self.type is int:
            if isinstance(raw, bool):
                raise TypeError(raw)
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError(raw)
            return int(raw)
        if self.type is float:
            if isinstance(raw, bool):
                raise TypeError(raw)
            return float(raw)
        if not isinstance(raw, str):
            raise TypeError(raw)
        return raw


def _flower(name, type_, default, help_, **kw) -> Option:
    return Option(name, type_, default, help_, **kw)


def _logging(name, type_, default, help_, **kw) -> Option:
    return Option(name, type_, default, help_, group='Logging', **kw)


# Flower's 32 options: names, types, defaults and help as Flower 2.2 defines them (help text corrected
# where Flower's has a typo).
FLOWER_OPTIONS = (
    _flower('port', int, 5555, 'run on the given port'),
    _flower('address', str, '', 'run on the given address'),
    _flower('unix_socket', str, '', 'path to unix socket to bind'),
    _flower('debug', bool, False, 'run in debug mode'),
    _flower('inspect_timeout', float, 1000.0, 'inspect timeout (in milliseconds)'),
    _flower('auth', str, '', 'regexp of emails to grant access'),
    _flower('basic_auth', str, [], 'enable http basic authentication', multiple=True),
    _flower('oauth2_key', str, None, 'OAuth2 key (requires --auth)'),
    _flower('oauth2_secret', str, None, 'OAuth2 secret (requires --auth)'),
    _flower('oauth2_redirect_uri', str, None, 'OAuth2 redirect uri (requires --auth)'),
    _flower('max_workers', int, 5000, 'maximum number of workers to keep in memory'),
    _flower('max_tasks', int, 100000, 'maximum number of tasks to keep in memory'),
    _flower('db', str, 'flower', 'flower database file'),
    _flower('persistent', bool, False, 'enable persistent mode'),
    _flower('state_save_interval', int, 0, 'state save interval (in milliseconds)'),
    _flower('broker_api', str, None, 'inspect broker e.g. http://guest:guest@localhost:15672/api/'),
    _flower('ca_certs', str, None, 'SSL certificate authority (CA) file'),
    _flower('certfile', str, None, 'SSL certificate file'),
    _flower('keyfile', str, None, 'SSL key file'),
    _flower('xheaders', bool, False, "enable support for the 'X-Real-Ip' and 'X-Scheme' headers."),
    _flower('auto_refresh', bool, True, 'refresh workers'),
    _flower(
        'purge_offline_workers', int, None, 'time (in seconds) after which offline workers are purged from workers'
    ),
    _flower('cookie_secret', str, None, 'secure cookie secret (random per process when not set)'),
    _flower('conf', str, DEFAULT_CONFIG_FILE, 'configuration file'),
    _flower('enable_events', bool, True, 'periodically enable Celery events'),
    _flower('format_task', 'function', None, 'use custom task formatter (only settable from a config file)'),
    _flower('natural_time', bool, False, 'show time in relative format'),
    _flower(
        'tasks_columns',
        str,
        'name,uuid,state,received,runtime,worker',
        'slugs of columns on /tasks/ page, delimited by comma',
    ),
    _flower('auth_provider', str, None, 'auth handler class (dotted path)'),
    _flower('url_prefix', str, None, 'base url prefix'),
    _flower(
        'task_runtime_metric_buckets',
        float,
        list(Histogram.DEFAULT_BUCKETS),
        'histogram latency bucket value',
        multiple=True,
    ),
    _flower('read_only', bool, False, 'enable read only mode, disabling all operations'),
)

# tornado.log's options, which Flower accepts because it parses with tornado's global parser.
LOGGING_OPTIONS = (
    _logging(
        'logging',
        str,
        'info',
        "Set the Python log level. If 'none', tornado won't touch the logging configuration.",
        metavar='debug|info|warning|error|none',
    ),
    _logging(
        'log_to_stderr',
        bool,
        None,
        'Send log output to stderr (colorized if possible). By default use stderr if '
        '--log_file_prefix is not set and no other logging is configured.',
    ),
    _logging(
        'log_file_prefix',
        str,
        None,
        'Path prefix for log files. Note that if you are running multiple tornado processes, '
        'log_file_prefix must be different for each of them (e.g. include the port number)',
        metavar='PATH',
    ),
    _logging('log_file_max_size', int, 100 * 1000 * 1000, 'max size of log files before rollover'),
    _logging('log_file_num_backups', int, 10, 'number of log files to keep'),
    _logging(
        'log_rotate_when',
        str,
        'midnight',
        "specify the type of TimedRotatingFileHandler interval other options:('S', 'M', 'H', 'D', 'W0'-'W6')",
    ),
    _logging('log_rotate_interval', int, 1, 'The interval value of timed rotating'),
    _logging('log_rotate_mode', str, 'size', 'The mode of rotating files(time or size)'),
)

# Options Flower does not have.
EXTRA_OPTIONS = (
    Option(
        'queue_length_interval',
        float,
        15.0,
        'seconds between background refreshes of the flower_queue_length metric (0 = off)',
        group='Beyond Flower',
    ),
    Option(
        'task_args_max_length',
        int,
        1024,
        'longest args/kwargs/result/exception/traceback text kept in memory per task, in characters; '
        'longer values are cut (the task page says how much was kept; the API gives the kept start and a '
        '`truncated` field) (0 = keep everything)',
        group='Beyond Flower',
    ),
    Option(
        'max_task_age',
        'duration',
        None,
        'forget tasks whose last event is older than this (e.g. 7d, 12h, 30m, 90s; a bare number is '
        'seconds), in memory and in the --persistent database; unset = keep them until --max_tasks '
        'pushes them out',
        group='Beyond Flower',
    ),
    Option(
        'metrics_max_task_names',
        int,
        500,
        'distinct task names that get their own task label in the flower_* metrics; names seen after the '
        'first this many are counted under task="__other__" (0 = no cap)',
        group='Beyond Flower',
    ),
    Option(
        'allowed_hosts',
        str,
        [],
        'host names this server answers to (Host header; * = any, .example.com = the domain and its '
        'subdomains; ports ignored); unset = only loopback names when there is no authentication and '
        '--address is a loopback address, otherwise any',
        multiple=True,
        group='Beyond Flower',
    ),
    Option(
        'max_pool_step',
        int,
        10,
        'most processes one /api/worker/pool/grow or shrink call may add or remove, and (without '
        '--max_pool_size) how far one autoscale call may raise max above the pool\'s current size',
        group='Beyond Flower',
    ),
    Option(
        'max_pool_size',
        int,
        0,
        'largest pool the API may grow a worker to, from its size as last inspected, and the largest '
        'autoscale max it accepts (0 = no cap)',
        group='Beyond Flower',
    ),
)

ALL_OPTIONS: dict[str, Option] = {opt.name: opt for opt in (*FLOWER_OPTIONS, *LOGGING_OPTIONS, *EXTRA_OPTIONS)}

# Celery's global options, which belong before the ``flower`` sub-command; ``flower`` accepts them anywhere.
CELERY_VALUE_ARGS = {
    '-A': 'app',
    '--app': 'app',
    '-b': 'broker',
    '--broker': 'broker',
    '--result-backend': 'result_backend',
    '--loader': 'loader',
    '--config': 'config',
    '--workdir': 'workdir',
}
CELERY_FLAG_ARGS = {
    '-q': 'quiet',
    '--quiet': 'quiet',
    '-C': 'no_color',
    '--no-color': 'no_color',
    '--skip-checks': 'skip_checks',
}


_DURATION = re.compile(r'(\d+(?:\.\d*)?|\.\d+)\s*([smhdw]?)')
_DURATION_UNITS = {'': 1, 's': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 7 * 86400}


def parse_duration(raw: Any) -> float | None:
    """Seconds from ``7d``, ``12h``, ``30m``, ``90s``, ``2w`` or a bare number of seconds; ``None`` for an
    empty value (option not set). Anything else raises ``ValueError``."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise TypeError(raw)
    if isinstance(raw, (int, float)):
        return float(raw)
    text = str(raw).strip().lower()
    if not text:
        return None
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(raw)
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def normalise_name(name: str) -> str:
    return name.strip().lstrip('-').replace('-', '_').lower()


def lookup(name: str, what: str = 'option') -> Option:
    """The option called ``name`` (dashes and underscores alike), or an error that suggests the right one."""
    key = normalise_name(name)
    try:
        return ALL_OPTIONS[key]
    except KeyError:
        close = difflib.get_close_matches(key, ALL_OPTIONS, n=1, cutoff=SUGGESTION_CUTOFF)
        hint = f" (did you mean '--{close[0]}'?)" if close else ''
        raise OptionError(f"Unknown {what} '{name}'{hint}. Run 'flower --help' to list the options.") from None


class Options:
    """The resolved value of every option, read as attributes (``options.port``).

    ``sources`` says where each value that is not a default came from (``'command line'``, ``'config file'``,
    ``'environment'``), which the start-up log and the tests use.
    """

    def __init__(self, values: Mapping[str, Any] | None = None, sources: Mapping[str, str] | None = None):
        merged = {name: _copy_default(opt.default) for name, opt in ALL_OPTIONS.items()}
        merged.update(values or {})
        object.__setattr__(self, '_values', merged)
        object.__setattr__(self, 'sources', dict(sources or {}))
        if merged.get('cookie_secret') is None:
            merged['cookie_secret'] = secrets.token_urlsafe(64)
            self.sources.setdefault('cookie_secret', 'random')

    @classmethod
    def from_object(cls, obj: Any) -> 'Options | LiveOptions':
        """The options an application reads, from what a caller gives: an :class:`Options` or a
        :class:`LiveOptions` (used as is), a mapping (copied), nothing (tornado's global :data:`options`, as in
        Flower), or any object with attributes, such as ``tornado.options.options`` (read through at every
        access, so a later change to it is seen)."""
        if isinstance(obj, (Options, LiveOptions)):
            return obj
        if obj is None:
            return LiveOptions(options)
        if isinstance(obj, Mapping):
            return cls(dict(obj))
        return LiveOptions(obj)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._values[name] = value

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def items(self):
        return self._values.items()

    @property
    def cookie_secret_is_random(self) -> bool:
        return self.sources.get('cookie_secret') == 'random'

    def group_dict(self, group: str) -> dict[str, Any]:
        return {name: self._values[name] for name, opt in ALL_OPTIONS.items() if opt.group == group}


def _copy_default(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


# -- tornado's options object --------------------------------------------------------------------------

options = tornado.options.options
#: Flower's name for the same object (``from flower.options import default_options``).
default_options = options

# Tornado checks every value set against the defined type; ours are stored as their Python values.
_TORNADO_TYPES: dict[Any, Any] = {'function': collections.abc.Callable, 'duration': float}
#: The cookie secret of a process whose options do not set one (Flower makes one at import too); the
#: :class:`Options` built by :func:`resolve` make their own and record that it is random.
PROCESS_COOKIE_SECRET = secrets.token_urlsafe(64)


def define_options(parser: tornado.options.OptionParser = options) -> None:
    """Define every option of the table on ``parser`` (tornado's global one by default) with its type,
    default, help and group. Options already defined there are left alone: tornado defines its logging
    options itself, and a module imported twice must not fail."""
    for opt in ALL_OPTIONS.values():
        if opt.name in parser:
            continue
        default = PROCESS_COOKIE_SECRET if opt.name == 'cookie_secret' else _copy_default(opt.default)
        parser.define(
            opt.name,
            default=default,
            type=_TORNADO_TYPES.get(opt.type, opt.type),
            help=opt.help,
            metavar=opt.metavar,
            multiple=opt.multiple,
            group=f'{opt.group} options',
        )


def publish(values: 'Options | Mapping[str, Any]', parser: tornado.options.OptionParser = options) -> None:
    """Write validated values into ``parser`` (tornado's global options by default): every option of the
    table when ``values`` is an :class:`Options`, the given names when it is a mapping."""
    items = values.items() if isinstance(values, (Options, Mapping)) else ()
    define_options(parser)
    for name, value in items:
        if name not in ALL_OPTIONS:
            continue
        try:
            setattr(parser, name, _copy_default(value))
        except tornado.options.Error as exc:
            raise OptionError(f"Cannot set option '--{name}' to {value!r}: {exc}") from None


def current_values(parser: Any = options) -> dict[str, Any]:
    """Every option's value as ``parser`` holds it now (tornado's global options by default)."""
    return {name: getattr(parser, name) for name in ALL_OPTIONS if name in parser}


class LiveOptions:
    """A read-through view of an options object given by a caller: tornado's ``options`` (what Flower's
    users pass), or any object with attributes. Every read asks the object, so a change made to it at run
    time is seen at once; an option the object lacks reads as its default. Writes go to the object.

    Reading costs one attribute lookup on the object (for tornado's parser, a dict lookup), so handlers read
    it per request; what is expensive to derive from options is cached by value by its owner.
    """

    __slots__ = ('source', '_defaults', '_table')

    def __init__(self, source: Any):
        object.__setattr__(self, 'source', source)
        table = source.__dict__.get('_options') if isinstance(source, tornado.options.OptionParser) else None
        object.__setattr__(self, '_table', table)
        defaults = {name: _copy_default(opt.default) for name, opt in ALL_OPTIONS.items()}
        defaults['cookie_secret'] = PROCESS_COOKIE_SECRET
        object.__setattr__(self, '_defaults', defaults)

    def __getattr__(self, name: str) -> Any:
        try:
            value = getattr(self.source, name)
        except (AttributeError, KeyError):
            try:
                return self._defaults[name]
            except KeyError:
                raise AttributeError(name) from None
        if value is None and name == 'cookie_secret':
            return self._defaults[name]
        return value

    def _read(self, name: str, key: str) -> Any:
        # tornado's parser: straight to its option record (what its own __getattr__ does, without the
        # name normalisation); any other object: an attribute read
        table = self._table
        if table is not None:
            record = table.get(key)
            if record is not None:
                value = record.value()
                return self._defaults[name] if value is None and name == 'cookie_secret' else value
        return self.__getattr__(name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.source, name, value)

    def __getitem__(self, name: str) -> Any:
        try:
            return self.__getattr__(name)
        except AttributeError:
            raise KeyError(name) from None

    def __contains__(self, name: str) -> bool:
        return name in ALL_OPTIONS

    def as_dict(self) -> dict[str, Any]:
        return {name: self.__getattr__(name) for name in ALL_OPTIONS}

    def items(self):
        return self.as_dict().items()

    @property
    def sources(self) -> dict[str, str]:
        return dict(getattr(self.source, 'sources', None) or {})

    @property
    def cookie_secret_is_random(self) -> bool:
        return self.cookie_secret == PROCESS_COOKIE_SECRET

    def group_dict(self, group: str) -> dict[str, Any]:
        return {name: self.__getattr__(name) for name, opt in ALL_OPTIONS.items() if opt.group == group}

    def __repr__(self) -> str:
        return f'LiveOptions({self.source!r})'


def _add_option_properties() -> None:
    """One property per option on :class:`Options` and :class:`LiveOptions`: a read is a plain attribute
    lookup (handlers read options per request), not a failed lookup followed by ``__getattr__``."""
    for name in ALL_OPTIONS:

        def stored(self, _name=name):
            return self._values[_name]

        def live(self, _name=name, _key=name.replace('_', '-')):
            return self._read(_name, _key)

        setattr(Options, name, property(stored, doc=ALL_OPTIONS[name].help))
        setattr(LiveOptions, name, property(live, doc=ALL_OPTIONS[name].help))


_add_option_properties()
define_options()


# -- sources ---------------------------------------------------------------------------------------------


@dataclass
class CommandLine:
    """What the command line after ``flower`` says: option values, celery's global options, and ``--help``/
    ``--version`` requests."""

    values: dict[str, Any]
    celery_args: dict[str, Any]
    help: bool = False
    version: bool = False


@dataclass(frozen=True)
class Argument:
    """One argument of a command line: the words of ``argv`` it spans, and what :func:`walk` made of them.

    ``kind`` is ``'help'``, ``'version'``, ``'end'`` (``--``), ``'celery'`` (one of celery's global options
    that take a value, ``key`` naming it and ``value`` its value, ``None`` when a value is missing),
    ``'celery_flag'`` (one of celery's flags, ``key`` naming it), ``'option'`` (``--name``:
    ``head`` as written, ``value`` the text given for it, ``None`` when a value is missing) or ``'stray'``
    (anything else: a bare word, a single-dash argument, ``-Aproj=x``). ``celery`` says whether the argument
    belongs to celery (before the ``flower`` sub-command) rather than to flower.
    """

    words: tuple[str, ...]
    kind: str
    head: str = ''
    key: str = ''
    value: str | None = None
    celery: bool = False


def walk(argv: Iterable[str]) -> Iterable[Argument]:
    """Group ``argv`` into arguments: the one place that knows which words belong together (``--name value``,
    ``-A proj``, a bare boolean flag with or without an explicit boolean word after it).

    It never raises: :func:`parse_command_line` turns what it yields into values (or the error that names
    the problem) and :func:`split_argv` routes the words to celery or flower, so the two agree on every
    command line by construction.
    """
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in ('-h', '--help'):
            yield Argument((arg,), 'help')
            continue
        if arg == '--version':
            yield Argument((arg,), 'version')
            continue
        if arg == '--':
            yield Argument((arg,), 'end')
            continue
        head, has_value, inline = arg.partition('=')
        if head in CELERY_VALUE_ARGS:
            if has_value:
                yield Argument((arg,), 'celery', head, CELERY_VALUE_ARGS[head], inline, celery=True)
            elif i < len(args):
                yield Argument((arg, args[i]), 'celery', head, CELERY_VALUE_ARGS[head], args[i], celery=True)
                i += 1
            else:
                yield Argument((arg,), 'celery', head, CELERY_VALUE_ARGS[head], None, celery=True)
            continue
        if arg.startswith('-A') and len(arg) > 2:  # -Aproj (-Aproj=x is celery's too, and not understood)
            if has_value:
                yield Argument((arg,), 'stray', celery=True)
            else:
                yield Argument((arg,), 'celery', arg, 'app', arg[2:], celery=True)
            continue
        if arg in CELERY_FLAG_ARGS:
            yield Argument((arg,), 'celery_flag', arg, CELERY_FLAG_ARGS[arg], celery=True)
            continue
        if not arg.startswith('--') or len(arg) == 2:
            yield Argument((arg,), 'stray')
            continue
        if has_value:
            yield Argument((arg,), 'option', head, value=inline)
            continue
        try:
            option = lookup(head)
        except OptionError:  # parse_command_line reports it; nothing after it is taken as its value
            yield Argument((arg,), 'option', head)
            continue
        if option.type is bool:
            # a bare flag, or a flag followed by an explicit boolean word
            if i < len(args) and _looks_like_bool(args[i]):
                yield Argument((arg, args[i]), 'option', head, value=args[i])
                i += 1
            else:
                yield Argument((arg,), 'option', head, value='true')
        elif i >= len(args):
            yield Argument((arg,), 'option', head)
        else:
            # the next word is this option's, even when it is another option (then the value is missing)
            word = args[i]
            i += 1
            missing = word.startswith('--') and len(word) > 2
            yield Argument((arg, word), 'option', head, value=None if missing else word)


def parse_command_line(argv: Iterable[str]) -> CommandLine:
    """Parse ``--name=value``, ``--name value`` and bare ``--flag`` arguments.

    Unknown options are an error that names them (Flower silently drops them). Celery's own global options
    (``-A``, ``--broker``, ...) are accepted too and returned separately.
    """
    values: dict[str, Any] = {}
    celery_args: dict[str, Any] = {}
    result = CommandLine(values, celery_args)
    arguments = iter(walk(argv))
    for argument in arguments:
        if argument.kind == 'help':
            result.help = True
        elif argument.kind == 'version':
            result.version = True
        elif argument.kind == 'end':
            following = next(arguments, None)
            if following is not None:
                raise OptionError(f"Unexpected argument '{following.words[0]}': flower takes options only")
        elif argument.kind == 'celery':
            if argument.value is None:
                raise OptionError(f"Option '{argument.head}' requires a value")
            celery_args[argument.key] = argument.value
        elif argument.kind == 'celery_flag':
            celery_args[argument.key] = True
        elif argument.kind == 'stray':
            raise OptionError(
                f"Unexpected argument '{argument.words[0]}': options look like --name=value "
                "(run 'flower --help' to list them)"
            )
        else:
            option = lookup(argument.head)
            if option.type == 'function':
                raise OptionError(f"Option '{option.flag}' can only be set in a config file")
            if argument.value is None:
                raise OptionError(f"Option '{option.flag}' requires a value ({option.type_name()})")
            values[option.name] = option.convert(argument.value, 'command line')
    return result


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """Separate celery's global options from flower's, wherever they appear, and drop a ``flower`` token
    (``python -m flower -A proj flower --port=5555`` is Flower's way of writing it)."""
    celery_args: list[str] = []
    flower_args: list[str] = []
    for argument in walk(argv):
        if argument.celery:
            celery_args.extend(argument.words)
        elif argument.words != ('flower',):
            flower_args.extend(argument.words)
    return celery_args, flower_args


def _looks_like_bool(word: str) -> bool:
    try:
        strtobool(word)
    except ValueError:
        return False
    return True


def options_from_environment(environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Values from ``FLOWER_<NAME>`` variables, and warnings about ``FLOWER_*`` names that are not options."""
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or key in DIRECT_ENV_VARIABLES:
            continue
        name = key[len(ENV_PREFIX) :].lower()
        option = ALL_OPTIONS.get(name)
        if option is None:
            close = misspelt_variable(key)
            if close:
                warnings.append(f"Environment variable {key} is not an option; did you mean {close}?")
            continue
        if option.type == 'function':
            raise OptionError(f"Option '{option.flag}' can only be set in a config file, not by {key}")
        values[option.name] = option.convert(raw, f'environment variable {key}')
    return values, warnings


def misspelt_variable(key: str) -> str | None:
    """The ``FLOWER_*`` variable that ``key`` (not one) most likely means, if one is close: an option's
    (``FLOWER_PROT`` -> ``FLOWER_PORT``, as close as a misspelt ``--prot`` must be to be named) or one read
    directly (``FLOWER_UNAUTHENTICATED_APl``). Variables far from every name are left alone: environments carry
    ``FLOWER_*`` variables of other tools (a compose file's ``FLOWER_PASSWORD``)."""
    known = {name.upper(): ENV_PREFIX + name.upper() for name in ALL_OPTIONS}
    known.update({variable[len(ENV_PREFIX) :]: variable for variable in DIRECT_ENV_VARIABLES})
    close = difflib.get_close_matches(key[len(ENV_PREFIX) :].upper(), known, n=1, cutoff=SUGGESTION_CUTOFF)
    return known[close[0]] if close else None


def options_from_config_file(path: str, explicit: bool) -> tuple[dict[str, Any], list[str]]:
    """Execute the Python config file and take its top-level names that are options, and the options it
    set on tornado's object (``from flower.options import options; options.port = 5566``, as a Flower
    config may do; the object is put back as it was, so the file's values go through the precedence rule
    like the others). A top-level name wins over a value set on the object.

    A missing file is fine when it is the default ``flowerconfig.py``; a missing file the user named is an
    error. Names that look like misspelt options are reported as warnings (config files hold helpers too).
    """
    if not os.path.exists(path):
        if explicit:
            raise OptionError(f"Config file '{path}' does not exist")
        return {}, []
    before = current_values(options)
    try:
        namespace = runpy.run_path(path)
    except SystemExit:
        raise
    except BaseException as exc:  # a user's file: report any failure as a start-up error
        raise OptionError(f"Config file '{path}' failed to load: {type(exc).__name__}: {exc}") from exc
    finally:
        set_on_object = {name: value for name, value in current_values(options).items() if value != before.get(name)}
        publish(before)
    values: dict[str, Any] = {
        name: ALL_OPTIONS[name].convert(value, f'config file {path} (options.{name})')
        for name, value in set_on_object.items()
    }
    warnings: list[str] = []
    for name, raw in namespace.items():
        if name.startswith('_') or isinstance(raw, (types.ModuleType, tornado.options.OptionParser)):
            continue
        option = ALL_OPTIONS.get(name)
        if option is None:
            if not callable(raw):
                close = difflib.get_close_matches(name, ALL_OPTIONS, n=1, cutoff=0.8)
                if close:
                    warnings.append(f"'{name}' in config file {path} is not an option; did you mean '{close[0]}'?")
            continue
        values[name] = option.convert(raw, f'config file {path}')
    return values, warnings


@dataclass
class Resolved:
    options: Options
    celery_args: dict[str, Any]
    warnings: list[str]
    help: bool = False
    version: bool = False


def resolve(argv: Iterable[str], environ: Mapping[str, str] | None = None, cwd: str | None = None) -> Resolved:
    """Apply the precedence rule: command line > config file > environment > defaults."""
    environ = os.environ if environ is None else environ
    cli = parse_command_line(argv)
    if cli.help or cli.version:
        return Resolved(Options(), cli.celery_args, [], help=cli.help, version=cli.version)
    env_values, warnings = options_from_environment(environ)
    options, file_warnings = layer_over(env_values, dict.fromkeys(env_values, 'environment'), cli.values, cwd)
    return Resolved(options, cli.celery_args, warnings + file_warnings)


def layer_over(
    base: Mapping[str, Any], base_sources: Mapping[str, str], cli_values: Mapping[str, Any], cwd: str | None = None
) -> tuple[Options, list[str]]:
    """``base`` (values from the environment, or those an options object holds), then the config file that
    the command line or ``base`` names, then the command line; validated. Returns the options and the
    config file's warnings."""
    conf_name = cli_values.get('conf', base.get('conf', DEFAULT_CONFIG_FILE))
    explicit = 'conf' in cli_values or 'conf' in base_sources
    conf_path = os.path.abspath(os.path.join(cwd or os.getcwd(), os.path.expanduser(conf_name)))
    file_values, warnings = options_from_config_file(conf_path, explicit)

    values: dict[str, Any] = dict(base)
    sources: dict[str, str] = dict(base_sources)
    for layer, source in ((file_values, 'config file'), (cli_values, 'command line')):
        values.update(layer)
        sources.update(dict.fromkeys(layer, source))
    options = Options(values, sources)
    validate(options)
    return options, warnings


def validate(options: Options) -> None:
    """Checks across options that would otherwise fail later, less clearly."""
    if options.port < 0 or options.port > 65535:
        raise OptionError(f"Invalid value {options.port} for option '--port': expected 0 to 65535")
    if bool(options.certfile) != bool(options.keyfile):
        raise OptionError("Options '--certfile' and '--keyfile' must be given together")
    if options.max_tasks < 1:
        raise OptionError("Option '--max_tasks' must be at least 1")
    if options.max_workers < 1:
        raise OptionError("Option '--max_workers' must be at least 1")
    if options.inspect_timeout <= 0:
        raise OptionError("Option '--inspect_timeout' must be greater than 0")
    if options.queue_length_interval < 0:
        raise OptionError("Option '--queue_length_interval' must be 0 or more")
    if options.task_args_max_length < 0:
        raise OptionError("Option '--task_args_max_length' must be 0 or more")
    if options.metrics_max_task_names < 0:
        raise OptionError("Option '--metrics_max_task_names' must be 0 (no cap) or more")
    if options.max_pool_step < 1:
        raise OptionError("Option '--max_pool_step' must be at least 1")
    if options.max_pool_size < 0:
        raise OptionError("Option '--max_pool_size' must be 0 (no cap) or more")
    if options.max_task_age is not None and not options.max_task_age > 0:
        raise OptionError("Option '--max_task_age' must be longer than 0 (for example 7d, 12h, 30m or 90s)")
    buckets = options.task_runtime_metric_buckets
    if not buckets or sorted(buckets) != list(buckets):
        raise OptionError("Option '--task_runtime_metric_buckets' must be a non-empty increasing list")
    for bad in (b for b in options.basic_auth if ':' not in b):
        raise OptionError(f"Invalid '--basic_auth' entry {bad!r}: expected user:password")
    if options.allowed_hosts:
        try:
            AllowedHosts.parse(options.allowed_hosts)
        except ValueError as exc:
            raise OptionError(f"Invalid '--allowed_hosts': {exc}") from None


def help_text(prog: str = 'flower') -> str:
    """The full option list, grouped, with types and defaults."""
    lines = [
        f'Usage: {prog} [celery options] [options]',
        '',
        'Web based tool for monitoring and administrating Celery clusters.',
        '',
        'Celery options (may also come before the flower command):',
        '  -A, --app APP                 the Celery application (module or module:attribute)',
        '  -b, --broker URL              broker URL (default: CELERY_BROKER_URL or the app\'s setting)',
        '  --result-backend URL          result backend URL',
        '  --loader, --config, --workdir, -q/--quiet, -C/--no-color  as for celery',
        '',
    ]
    groups: dict[str, list[Option]] = {}
    for opt in ALL_OPTIONS.values():
        groups.setdefault(opt.group, []).append(opt)
    for group, opts in groups.items():
        lines.append(f'{group} options:')
        for opt in opts:
            metavar = opt.metavar or ('' if opt.type is bool else _type_label(opt))
            flag = f'  --{opt.name}' + (f'={metavar}' if metavar else '')
            default = _display_default(opt)
            text = opt.help + (f' (default {default})' if default is not None else '')
            lines.append(f'{flag:<40} {text}' if len(flag) < 40 else f'{flag}\n{"":<40} {text}')
        lines.append('')
    lines.append("Run 'flower demo' for a self-contained demo cluster (see 'flower demo --help').")
    lines.append(
        'Options may also be set in the config file (--conf, default flowerconfig.py) or as '
        'FLOWER_<NAME> environment variables; the command line wins over the file, the file over '
        'the environment.'
    )
    return '\n'.join(lines)


def _type_label(opt: Option) -> str:
    label = {int: 'INT', float: 'FLOAT', str: 'STR', 'function': 'FUNC', 'duration': 'DURATION'}[opt.type]
    return f'{label}[,{label}...]' if opt.multiple else label


def _display_default(opt: Option) -> str | None:
    if opt.default is None or opt.default == '' or opt.default == []:
        return None
    if isinstance(opt.default, list):
        return ','.join(str(v) for v in opt.default)
    return str(opt.default)


def describe(option_names: Iterable[str] | None = None) -> list[Option]:
    names = ALL_OPTIONS if option_names is None else option_names
    return [ALL_OPTIONS[name] for name in names]


Converter = Callable[[Any], Any]
