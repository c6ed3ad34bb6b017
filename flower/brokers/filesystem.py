"""Queue lengths on kombu's ``filesystem://`` transport (the demo mode's broker), which Flower does not support.

kombu writes each message as one file ``<milliseconds>_<uuid4>.<queue>.msg`` (the queue is what follows the
first dot) into ``data_folder_out`` and consumers take them from ``data_folder_in``; a consumed message is
moved away. The messages waiting for this app's workers are therefore the ``.msg`` files in the app's
``data_folder_in`` (default ``data_in``, relative to the working directory, as in kombu), which is also what
kombu's own queue size counts.

The folder is listed once per call, on a worker thread (a folder of many files would stall the IOLoop); the
adapter object itself is used on the IOLoop thread only.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from flower.brokers.base import QueueBroker
from flower.brokers.errors import BrokerError

DEFAULT_DATA_FOLDER_IN = 'data_in'


def count_messages(folder: str) -> Counter:
    """``{queue: number of waiting message files}`` for one listing of ``folder``."""
    counts: Counter = Counter()
    for filename in os.listdir(folder):
        if not filename.endswith('.msg'):
            continue
        _stamp, dot, queue_and_suffix = filename.partition('.')
        if dot:
            counts[queue_and_suffix[: -len('.msg')]] += 1
    return counts


class FilesystemQueueBroker(QueueBroker):
    transport = 'filesystem'
    source = 'filesystem'

    def __init__(self, transport_options: Mapping[str, Any] | None = None):
        self.folder = str((transport_options or {}).get('data_folder_in') or DEFAULT_DATA_FOLDER_IN)

    @property
    def location(self) -> str:
        return f'filesystem://{os.path.abspath(self.folder)}'

    async def queues(self, names: Sequence[str]) -> list[dict]:
        names = list(names)
        if not names:
            return []
        try:
            counts = await asyncio.to_thread(count_messages, self.folder)
        except FileNotFoundError:
            raise BrokerError(
                f"The filesystem broker's data_folder_in {os.path.abspath(self.folder)!r} does "
                'not exist (kombu creates no folders: create it, or fix '
                'broker_transport_options)'
            ) from None
        except OSError as exc:
            raise BrokerError(
                f"The filesystem broker's data_folder_in {os.path.abspath(self.folder)!r} "
                f'cannot be read: {exc.strerror or exc}'
            ) from None
        return [{'name': name, 'messages': counts.get(name, 0)} for name in names]
