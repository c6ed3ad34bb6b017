"""The PromQL reader of scripts/check_metric_names.py, which the example alert rules, the Grafana dashboard and
the docs' queries are checked with: it must find every metric name and label, and nothing else."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_script(name: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / 'scripts' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


checker = load_script('check_metric_names')


def usage(expr):
    found = checker.promql_usage(expr)
    return found.metrics, {k: v for k, v in found.matchers.items() if v}, found.grouping


@pytest.mark.parametrize(
    'expr, metrics',
    [
        ('up', {'up'}),
        ('flower_worker_online == 0', {'flower_worker_online'}),
        ('sum(rate(flower_events_total[5m]))', {'flower_events_total'}),
        # aggregations with the grouping clause before or after the argument; labels are not metrics
        ('sum by (worker, task) (flower_task_prefetch_time_seconds)', {'flower_task_prefetch_time_seconds'}),
        ('sum(flower_task_prefetch_time_seconds) without (task)', {'flower_task_prefetch_time_seconds'}),
        # numbers in every notation, Inf/NaN, durations, offsets and @ modifiers are not metrics
        (
            'min_over_time(a_bytes[5m]) > 10e6 or b > 1.5E-3 or c > 0x1F or d > .5 or e != Inf or f != NaN',
            {'a_bytes', 'b', 'c', 'd', 'e', 'f'},
        ),
        ('rate(x_total[1h30m] offset 5m) and y @ 1609746000', {'x_total', 'y'}),
        ('max_over_time(deriv(q[5m])[30m:1m])', {'q'}),
        # strings, including ones that look like metrics or hold brackets and quotes
        ('label_replace(m, "dst", "$1 up(x)", "src", "(.*)")', {'m'}),
        (r'count_values("version", build_info{v="a\"b}"})', {'build_info'}),
        # Grafana variables anywhere
        ('rate(z_total{worker=~"$worker", job=~"${job:regex}"}[$__rate_interval])', {'z_total'}),
        ('rate(z_total[[[interval]]])', {'z_total'}),
        # vector matching clauses name labels, not metrics
        ('a / on (task) group_left (worker) b', {'a', 'b'}),
        ('a * ignoring (le) b', {'a', 'b'}),
        # recording-rule names have colons; comments are skipped
        ('job:flower_events:rate5m  # per job\n> 3', {'job:flower_events:rate5m'}),
        # a metric given only by its __name__ matcher
        ('{__name__="flower_queue_length", queue="celery"}', {'flower_queue_length'}),
        ('topk(3, sum by (task) (increase(flower_events_total{type="task-failed"}[1h])))', {'flower_events_total'}),
        ('histogram_quantile(0.95, sum by (le) (rate(h_bucket[5m])))', {'h_bucket'}),
        ('count(flower_worker_online == 0) or vector(0)', {'flower_worker_online'}),
        ('SUM(x) BY (y)', {'x'}),
    ],
)
def test_finds_exactly_the_metric_names(expr, metrics):
    assert usage(expr)[0] == metrics


def test_labels_of_selectors_and_grouping_clauses():
    metrics, matchers, grouping = usage(
        'sum by (task) (rate(flower_events_total{type="task-failed", worker!~"x|y"}[5m])) '
        '/ on (task) group_left sum by (task) (rate(flower_events_total{type=~"task-.*"}[5m]))'
    )
    assert metrics == {'flower_events_total'}
    assert matchers == {'flower_events_total': {'type', 'worker'}}
    assert grouping == {'task'}

    metrics, matchers, grouping = usage('{__name__="flower_queue_length", queue="celery"}')
    assert matchers == {'flower_queue_length': {'queue'}}


@pytest.mark.parametrize(
    'expr, message',
    [
        ('rat(flower_events_total[5m])', 'unknown function rat()'),
        ('sum by worker (x)', 'without a label list'),
        ('sum(x', 'unbalanced ('),
        ('x{a="1"', 'unclosed {'),
        ('x{a}', 'malformed label matcher'),
        ('rate(x[5m)', 'unexpected'),
        ('x ; y', 'unexpected'),
    ],
)
def test_refuses_what_it_cannot_read(expr, message):
    with pytest.raises(checker.PromQLError, match=message.replace('(', r'\(').replace(')', r'\)')):
        checker.promql_usage(expr)


def test_grafana_variable_queries():
    found = checker.grafana_query_usage('label_values(flower_worker_online{job=~"$job", a="1,2"}, worker)')
    assert found.metrics == {'flower_worker_online'}
    assert found.matchers['flower_worker_online'] == {'job', 'a'}
    assert found.grouping == {'worker'}  # the label must exist on those series
    assert checker.grafana_query_usage('label_values(queue)').metrics == set()
    assert checker.grafana_query_usage('query_result(topk(5, flower_queue_length))').metrics == {'flower_queue_length'}
    assert checker.grafana_query_usage('sum(x_total)').metrics == {'x_total'}


def test_expressions_are_found_in_rules_dashboards_and_markdown():
    rules = {
        'groups': [
            {
                'name': 'g',
                'rules': [
                    {
                        'alert': 'A',
                        'expr': 'a > 1',
                        'annotations': {'summary': '{{ $labels.worker }} and {{$labels.task}}'},
                    },
                    {'record': 'job:b:sum', 'expr': 'sum(b)'},
                ],
            }
        ]
    }
    found = checker.rule_expressions(rules)
    assert [(e.expr, e.annotation_labels) for e in found] == [('a > 1', {'worker', 'task'}), ('sum(b)', set())]

    dashboard = {
        'panels': [
            {'type': 'row', 'title': 'r', 'panels': [{'title': 'nested', 'targets': [{'refId': 'A', 'expr': 'n'}]}]},
            {'title': 'p', 'targets': [{'refId': 'A', 'expr': 'p1'}, {'refId': 'B', 'expr': 'p2'}, {'refId': 'C'}]},
        ],
        'templating': {
            'list': [
                {'type': 'query', 'name': 'w', 'query': {'query': 'label_values(v, worker)'}},
                {'type': 'datasource', 'name': 'ds', 'query': 'prometheus'},
            ]
        },
    }
    found = checker.dashboard_expressions(dashboard)
    assert [(e.expr, e.kind) for e in found] == [
        ('n', 'promql'),
        ('p1', 'promql'),
        ('p2', 'promql'),
        ('label_values(v, worker)', 'grafana-variable'),
    ]

    text = (
        'x\n```promql\nsum(a)\n\nrate(b[5m])\n```\n\n```yaml\nexpr: not_this\n```\n```promql\n# only a comment\n```\n'
    )
    assert [e.expr.strip() for e in checker.markdown_expressions(text)] == ['sum(a)', 'rate(b[5m])']


SCRAPE = '''\
# HELP flower_events_total Number of events
# TYPE flower_events_total counter
flower_events_total{task="t",type="task-failed",worker="w"} 1.0
# HELP flower_task_runtime_seconds Task runtime
# TYPE flower_task_runtime_seconds histogram
flower_task_runtime_seconds_bucket{le="1.0",task="t",worker="w"} 1.0
flower_task_runtime_seconds_bucket{le="+Inf",task="t",worker="w"} 1.0
flower_task_runtime_seconds_count{task="t",worker="w"} 1.0
flower_task_runtime_seconds_sum{task="t",worker="w"} 0.5
# HELP flower_queue_length Messages waiting
# TYPE flower_queue_length gauge
# HELP flower_events_backlog_bytes Bytes
# TYPE flower_events_backlog_bytes gauge
flower_events_backlog_bytes 0.0
'''


def test_exported_names_follow_the_metric_types():
    exported = checker.exported_names(SCRAPE)
    for name in (
        'flower_events_total',
        'flower_task_runtime_seconds_bucket',
        'flower_task_runtime_seconds_sum',
        'flower_task_runtime_seconds_count',
        'flower_queue_length',
        'flower_events_backlog_bytes',
    ):
        assert name in exported
    assert 'flower_events' not in exported and 'flower_task_runtime_seconds' not in exported
    assert exported.labels['flower_task_runtime_seconds_bucket'] == {'le', 'task', 'worker'}
    assert 'flower_queue_length' not in exported.with_samples


def test_check_reports_unknown_metrics_labels_and_functions():
    exported = checker.exported_names(SCRAPE)
    E = checker.Expression
    good = [
        E('ok1', 'sum by (task) (rate(flower_events_total{type="task-failed", job="flower"}[5m]))'),
        E('ok2', 'histogram_quantile(0.9, sum by (le, task) (rate(flower_task_runtime_seconds_bucket[5m])))'),
        E('ok3', 'up{job="flower"} == 0', annotation_labels={'instance'}),
        E('ok4', 'flower_queue_length > 100'),
        E('ok5', 'label_values(flower_events_total, worker)', kind='grafana-variable'),
    ]
    assert checker.check(good, exported) == []

    bad = [
        E('renamed', 'rate(flower_events[5m])'),
        E('histogram base name', 'flower_task_runtime_seconds > 1'),
        E('label typo', 'flower_events_total{hostname="w"}'),
        E('grouping typo', 'sum by (hostname) (flower_events_total)'),
        E('annotation typo', 'flower_events_total > 0', annotation_labels={'queue'}),
        E('no samples to check labels on', 'flower_queue_length{queue="celery"}'),
        E('function typo', 'rat(flower_events_total[5m])'),
        E('variable on a missing label', 'label_values(flower_events_backlog_bytes, worker)', kind='grafana-variable'),
    ]
    problems = checker.check(bad, exported)
    assert len(problems) == len(bad), problems
    for expression, problem in zip(bad, problems):
        assert problem.startswith(expression.where + ':')
    assert 'metric flower_events is not exported' in problems[0]
    assert "no label 'hostname'" in problems[2]
    assert 'unknown function rat()' in problems[6]
