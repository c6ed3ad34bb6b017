"""A burst of 20,000 real events (task-multi messages, as prefork workers send them) through a private Redis to a
real server process, watched by clients on every kind of page: each client gets a bounded number of messages
(never two within the throttle interval), the last one it gets is the final state, and the server works the burst
off (no backlog left).

The burst is published as 40 bursts of 500 events, 0.1 s apart (5,000 events/s for 4 s), so it spans several
throttle intervals: all at once, the server would apply it within one interval and the bound would say little."""

from __future__ import annotations

import time

import pytest

from tests.integration.test_live_channel import LiveClient
from tests.support.events import heartbeat, task_events, worker_online
from tests.support.processes import PrivateRedis, Server, wait_for
from tests.support.publish import publish_burst

pytestmark = [pytest.mark.slow]

INTERVAL = 0.5  # flower.live.LiveHub's default: at most one message per client per half second
CHUNKS, EVERY = 40, 0.1
WORKER = 'burst@host'
TASKS = 6667  # x 3 events each = 20,001 task events


@pytest.fixture
def burst_server(processes):
    redis = PrivateRedis()
    processes.append(redis)
    server = Server(redis.url, args=['--max_tasks=10000'])
    processes.append(server)
    wait_for(lambda: 'receiving events' in server.output(), 20, message='the server to subscribe')
    return redis, server


def test_a_burst_of_20000_events_sends_each_client_a_bounded_number_of_messages(burst_server):
    redis, server = burst_server
    base = time.time() - 30
    events = []
    for i in range(TASKS):
        events += task_events(
            name=f'tasks.burst{i % 7}',
            hostname=WORKER,
            uuid=f'burst-{i:05d}',
            start=base + i / 1000,
            outcome='failed' if i % 10 == 0 else 'succeeded',
        )
    multi = [events[i : i + 24] for i in range(0, len(events), 24)]  # prefork's task-multi batches
    last_task = f'burst-{TASKS - 1:05d}'

    url = server.url.replace('http://', 'ws://') + '/live'
    watches = [
        {'page': 'tasks', 'sort': 'received', 'dir': 'desc'},
        {'page': 'tasks', 'sort': 'received', 'dir': 'desc'},
        {'page': 'tasks', 'search': 'state:FAILURE', 'sort': 'runtime', 'dir': 'asc', 'start': 15, 'length': 50},
        {'page': 'workers'},
        {'page': 'worker', 'name': WORKER},
        {'page': 'task', 'id': last_task},
    ]
    clients = [LiveClient(url) for _ in watches]
    try:
        for client, watch in zip(clients, watches):
            client.watch(**watch)
            client.next()  # the page as it is before the burst
        publish_burst(redis.port, [worker_online(WORKER), heartbeat(WORKER)])
        for client in clients[3:5]:
            client.next(lambda m: WORKER in m['data']['fragments'].get('workers-rows', WORKER))
        before = [len(client.messages) for client in clients]

        started = time.monotonic()
        per_chunk = -(-len(multi) // CHUNKS)
        for k in range(CHUNKS):
            # pacing the publisher (the load), not waiting for the server: it is never asked anything here
            time.sleep(max(0.0, started + k * EVERY - time.monotonic()))
            assert publish_burst(redis.port, multi[k * per_chunk : (k + 1) * per_chunk]) == 1
        final = {
            0: lambda d: d['recordsTotal'] == TASKS and d['rows'][0]['uuid'] == last_task,
            1: lambda d: d['recordsTotal'] == TASKS,
            2: lambda d: d['recordsFiltered'] == TASKS // 10 + 1,
            # the workers table links each count to the task list: every task, then the succeeded ones
            3: lambda d: (
                f'>{TASKS}</a>' in d['fragments']['workers-rows']
                and f'>{TASKS - (TASKS // 10 + 1)}</a>' in d['fragments']['workers-rows']
            ),
            # nothing on a worker's page follows its tasks: it is pushed (its status) and stays within the bounds
            4: lambda d: 'id="worker-status"' in d['fragments']['worker-status'],
            5: lambda d: d.get('state') == 'SUCCESS',
        }
        for index, client in enumerate(clients):
            client.next(lambda m, check=final[index]: check(m['data']), after=before[index], timeout=60)
        took = time.monotonic() - started
        # the burst is worked off: nothing left unparsed
        wait_for(
            lambda: 'flower_events_backlog_bytes 0.0' in server.get('/metrics').text, 20, message='no event backlog'
        )
        assert 'flower_live_clients 6.0' in server.get('/metrics').text  # nobody was dropped

        for index, client in enumerate(clients):
            burst = [message for _, message in client.messages[before[index] :]]
            stamps = [message['t'] for message in burst]
            gaps = [later - earlier for earlier, later in zip(stamps, stamps[1:])]
            assert all(gap >= INTERVAL - 0.01 for gap in gaps), (watches[index], gaps)
            assert len(burst) <= took / INTERVAL + 2, (watches[index], len(burst), took)
            # and in absolute terms: the 4-second burst costs a client a couple of dozen messages at most, however
            # long the server took (a slow server sends fewer, larger updates, not more)
            assert len(burst) <= 24, (watches[index], len(burst), took)
            assert final[index](burst[-1]['data']), watches[index]
            assert all(message['seq'] == 1 for message in burst)
            if watches[index]['page'] == 'tasks' and 'search' not in watches[index]:
                assert len(burst) >= 3, 'the page was not updated during the burst, only at its end'
        print(
            f'20,001 events worked off in {took:.2f} s; messages per client: '
            f'{[len(client.messages) - before[i] for i, client in enumerate(clients)]}'
        )
    finally:
        for client in clients:
            client.close()
