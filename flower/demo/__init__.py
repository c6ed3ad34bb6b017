"""``flower demo``: a live dashboard with no broker to install.

A Celery cluster on kombu's filesystem transport in a temporary folder (workers, a producer of tasks) and the
flower server on it. The parts:

* :mod:`flower.demo.cli`: the command (options, start, serve, stop); its ``main`` is what ``flower demo``
  calls (through :mod:`flower.__main__`). The demo imports the server; the server never imports the demo.
* :mod:`flower.demo.cluster`: the folder and the child processes.
* :mod:`flower.demo.layout`: the folder's layout and the Celery settings every process shares.
* :mod:`flower.demo.tasks`: the Celery app and tasks the workers run.
* :mod:`flower.demo.producer`: the process that sends tasks.
* :mod:`flower.demo.janitor`: keeps the folder's disk use bounded.
* :mod:`flower.demo.lifeline`: children end themselves when the demo is gone.
"""
