"""kombu's filesystem transport, made safe for several processes writing and reading the same folder at once.

The demo's processes select it with Celery's ``broker_transport`` setting (see :mod:`flower.demo.layout`); the
broker URL stays ``filesystem://`` and the folder layout and file names are kombu's, so the server's
filesystem queue-length adapter and anything else that reads the folder see what they expect. Nothing in
kombu is patched: other code in the same process keeps kombu's own transport.

What is different from kombu 5.7's channel, and why:

* **Writing** (``_put``): kombu creates the message file empty, then writes it. A consumer listing the folder
  in between takes an empty or half-written file, fails to decode it, and the worker dies (seen within
  seconds at five tasks a second). Here the message is written under a name no reader looks at
  (``.<name>.tmp``) and renamed into place, and a rename is atomic: readers see whole messages or none.
* **Taking** (``_get``): a consumer claims a message by renaming it to ``<name>.claimed`` in the same folder
  (only one of several racing consumers can), reads it and deletes it. kombu moves it to the system's
  temporary folder first, which is a copy when that is another file system.
* **Binding** (``_queue_bind``): kombu creates an exchange's binding table empty and then writes it, and a
  publisher reading the table in between fails on the empty file. Here a new table is written aside and
  linked into place (an atomic create that never replaces a table another process made first).
* **Listing**: kombu lists and sorts the whole folder for every message it takes. Here one sorted listing
  per queue serves the following takes until it runs out, so working off a backlog of *n* messages costs
  one listing, not *n*.

A ``.tmp`` or ``.claimed`` file is left behind only when its process dies between two calls; the janitor
(:mod:`flower.demo.janitor`) removes them once they are stale.

Used on whichever thread owns the kombu connection (the worker's consumer, the server's events thread, ...),
one channel per thread, as kombu's channels always are.
"""

from __future__ import annotations

import os
import uuid
from collections import deque
from queue import Empty
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

from flower.demo.layout import CLAIMED_SUFFIX, STAGING_SUFFIX


class Channel(filesystem.Channel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._listed: dict[str, deque] = {}  # queue -> message file names from the last listing, oldest first

    def _put(self, queue, payload, **kwargs):
        name = f'{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg'  # kombu's naming: oldest sorts first
        final = os.path.join(self.data_folder_out, name)
        staging = os.path.join(self.data_folder_out, f'.{name}{STAGING_SUFFIX}')
        try:
            with open(staging, 'wb') as file:
                file.write(str_to_bytes(dumps(payload)))
            os.rename(staging, final)
        except OSError as exc:
            raise ChannelError(f'Cannot add message file {final!r}: {exc}') from exc

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        table = self._exchange_file(exchange)
        if not table.exists():
            self.control_folder.mkdir(exist_ok=True)
            binding = filesystem.exchange_queue_t(routing_key or '', pattern or '', queue or '')
            staging = table.with_name(f'.{table.name}.{uuid.uuid4()}{STAGING_SUFFIX}')
            try:
                staging.write_bytes(str_to_bytes(dumps([binding])))
                os.link(staging, table)
                return
            except FileExistsError:
                pass  # another process created it meanwhile: add to theirs below
            except OSError as exc:
                raise ChannelError(f'Cannot write the binding table {str(table)!r}: {exc}') from exc
            finally:
                staging.unlink(missing_ok=True)
        super()._queue_bind(exchange, routing_key, pattern, queue)

    def _get(self, queue):
        pending = self._listed.get(queue)
        if not pending:
            pending = self._listed[queue] = deque(self._list(queue))
        while pending:
            path = os.path.join(self.data_folder_in, pending.popleft())
            claimed = path + CLAIMED_SUFFIX
            try:
                os.rename(path, claimed)
            except FileNotFoundError:
                continue  # another consumer took it first
            try:
                with open(claimed, 'rb') as file:
                    payload = file.read()
            finally:
                try:
                    os.unlink(claimed)
                except FileNotFoundError:
                    pass
            return loads(bytes_to_str(payload))
        raise Empty()

    def _list(self, queue) -> list[str]:
        wanted = f'{queue}.msg'
        try:
            names = os.listdir(self.data_folder_in)
        except OSError as exc:
            raise ChannelError(f'Cannot list the message folder {self.data_folder_in!r}: {exc}') from exc
        return sorted(name for name in names if name.partition('.')[2] == wanted)

    def _purge(self, queue):
        self._listed.pop(queue, None)
        return super()._purge(queue)


class Transport(filesystem.Transport):
    Channel = Channel
    # the URL is kept as given (``filesystem://``) instead of being parsed into a host name kombu warns is
    # missing on every connection
    can_parse_url = True

    def as_uri(self, uri: str, include_password=False, mask='**') -> str:
        return 'filesystem://'
