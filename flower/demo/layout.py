"""The demo folder: where each part of the embedded broker lives, and the Celery settings that point at it.

One ``flower demo`` owns one temporary folder (``flower-demo-*`` in the system's temporary directory)::

    data/       message files of kombu's filesystem transport, one file per message; every process reads and
                writes the same folder (``data_folder_in`` == ``data_folder_out``), which is what makes
                tasks, events and broadcasts travel between processes
    control/    kombu's exchange tables (which queue is bound to which exchange)
    results/    Celery's ``file://`` result backend, one file per finished task
    logs/       worker and producer logs
    demo.json   the demo's PID and its children's, so a later demo can tell a dead demo's folder from a live one

Every process of the demo (the ``flower demo`` process, the workers and the producer) builds its settings from
here, given the folder in the ``FLOWERDEMO_FOLDER`` environment variable. Plain functions, no threads.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

FOLDER_ENV = 'FLOWERDEMO_FOLDER'
PARENT_ENV = 'FLOWERDEMO_PARENT_PID'
FOLDER_PREFIX = 'flower-demo-'

# names the demo's transport (flower.demo.transport) gives its message files while it writes and reads them;
# here so that the janitor knows them without importing kombu's transport
CLAIMED_SUFFIX = '.claimed'
STAGING_SUFFIX = '.tmp'

DEFAULT_QUEUE = 'celery'
REPORTS_QUEUE = 'reports'
#: The queues tasks are sent to. Their messages are work the workers have not taken yet; the janitor removes
#: them only as a last resort (see :mod:`flower.demo.janitor`).
TASK_QUEUES = (DEFAULT_QUEUE, REPORTS_QUEUE)

#: How often an idle consumer lists the folder. kombu's default (1 s) makes a worker answer a broadcast too
#: late for Flower's default --inspect_timeout (1 s); 0.1 s keeps inspection and the task list snappy, and a
#: listing of a small folder costs well under a millisecond.
POLLING_INTERVAL = 0.1


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / 'data'

    @property
    def control(self) -> Path:
        return self.root / 'control'

    @property
    def results(self) -> Path:
        return self.root / 'results'

    @property
    def logs(self) -> Path:
        return self.root / 'logs'

    @property
    def state_file(self) -> Path:
        return self.root / 'demo.json'

    def create(self) -> None:
        for folder in (self.data, self.control, self.results, self.logs):
            folder.mkdir(parents=True, exist_ok=True)

    def celery_config(self) -> dict:
        """Settings for the demo's Celery app, the same in every process."""
        return {
            'broker_url': 'filesystem://',
            # kombu's filesystem transport with writes that readers cannot catch half-done
            'broker_transport': 'flower.demo.transport:Transport',
            'broker_transport_options': {
                'data_folder_in': str(self.data),
                'data_folder_out': str(self.data),
                'control_folder': str(self.control),
                # kombu moves a consumed message to the system's temporary folder and deletes it at once;
                # keeping processed messages would grow the folder without bound
                'store_processed': False,
                'polling_interval': POLLING_INTERVAL,
            },
            'broker_connection_retry_on_startup': True,
            'result_backend': f'file://{self.results}',
            # the janitor expires result files; celery's own expiry needs celery beat, which the demo doesn't run
            'result_expires': None,
            'task_send_sent_event': True,
            'worker_send_task_events': True,
            'task_default_queue': DEFAULT_QUEUE,
            'task_routes': {'shop.reports.*': {'queue': REPORTS_QUEUE}},
            'accept_content': ['json'],
            'task_serializer': 'json',
            'result_serializer': 'json',
            'event_serializer': 'json',
            'worker_hijack_root_logger': True,
        }

    # -- demo.json ---------------------------------------------------------------------------------------
    def write_state(self, demo_pid: int, children: dict[str, int]) -> None:
        """Record who runs this folder (written atomically: a reader never sees half a file)."""
        temporary = self.state_file.with_suffix('.tmp')
        temporary.write_text(json.dumps({'pid': demo_pid, 'children': children}, indent=2))
        os.replace(temporary, self.state_file)

    def read_state(self) -> dict | None:
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None


def layout_from_environment() -> Layout:
    """The folder this process was started for; a clear error when it was not started by ``flower demo``."""
    folder = os.environ.get(FOLDER_ENV)
    if not folder:
        raise RuntimeError(
            f'flower.demo.tasks is the task module of `flower demo`, which starts its workers with '
            f'{FOLDER_ENV} set to its broker folder; run `flower demo` instead of loading it directly'
        )
    return Layout(Path(folder))


def queue_of(filename: str) -> str | None:
    """The queue a kombu message file belongs to: ``<stamp>_<uuid>.<queue>.msg`` (queue names may hold dots,
    the part before the first dot never does); ``None`` for anything else."""
    if not filename.endswith('.msg'):
        return None
    _stamp, dot, rest = filename.partition('.')
    return rest[: -len('.msg')] if dot else None


def task_backlog(layout: Layout) -> int:
    """Task messages waiting in the folder (one listing)."""
    try:
        return sum(1 for name in os.listdir(layout.data) if queue_of(name) in TASK_QUEUES)
    except FileNotFoundError:
        return 0


def monitor_listening(layout: Layout) -> bool:
    """True once an event receiver (the demo's flower) has bound its queue to the ``celeryev`` exchange.

    Workers run without gossip, so the only binding there is a monitor's. Events sent before that are dropped
    by the broker (nobody subscribed), which is why the producer waits for it.
    """
    try:
        table = json.loads((layout.control / 'celeryev.exchange').read_text())
    except (OSError, ValueError):  # not written yet, or caught mid-write
        return False
    return any(isinstance(row, list) and len(row) == 3 and str(row[2]).startswith('celeryev.') for row in table)
