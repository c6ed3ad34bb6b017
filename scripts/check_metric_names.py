#!/usr/bin/env python
"""Check that alert rules, Grafana dashboards and PromQL snippets in docs use only metrics a server exports.

    python scripts/check_metric_names.py --metrics http://localhost:5555/metrics \\
        examples/prometheus/alerts.yml examples/grafana/dashboards/flower.json docs/metrics.md

reads one scrape (a URL, or a file saved from one), finds every PromQL expression in the files (Prometheus rule
files: ``expr``; Grafana dashboards: panel targets and template variable queries; Markdown: fenced ``promql``
blocks), and reports every metric name the scrape does not export, every label used in a selector, a
``by``/``without``/``on``/``ignoring`` clause or an annotation's ``$labels.x`` that no series of those metrics
carries, and every unknown PromQL function. Exit status 1 when something is reported. Run it on your own rules
and dashboards after upgrading: a renamed metric makes a query silently empty, never an error, in Prometheus.

The PromQL reader is a tokenizer, not a full parser: strings, comments, durations, numbers, Grafana variables
(``$x``, ``${x}``, ``[[x]]``) and label matchers are recognised, so that an identifier outside a selector
that is not a function, an aggregation or a keyword is a metric name. The test suite uses this module
(tests/unit/test_docs_promql.py, tests/integration/test_docs_examples.py).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

# -- PromQL vocabulary (Prometheus 2.x/3.x) ----------------------------------------------------------------------

FUNCTIONS = frozenset(
    '''
abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp clamp_max
clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month deg delta deriv exp
floor histogram_avg histogram_count histogram_fraction histogram_quantile histogram_stddev histogram_stdvar
histogram_sum holt_winters double_exponential_smoothing hour idelta increase info irate label_join
label_replace last_over_time ln log10 log2 mad_over_time max_over_time min_over_time minute month pi
predict_linear present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh sort
sort_by_label sort_by_label_desc sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time tan tanh
time timestamp vector year
'''.split()
)
AGGREGATIONS = frozenset(
    '''
sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk limit_ratio
'''.split()
)
GROUPING = frozenset({'by', 'without', 'on', 'ignoring', 'group_left', 'group_right'})
OPERATOR_WORDS = frozenset({'and', 'or', 'unless', 'bool', 'offset', 'atan2'})
NUMBER_WORDS = frozenset({'inf', 'nan'})

# Series Prometheus writes itself for every scrape target, with the target's labels.
TARGET_LABELS = frozenset({'job', 'instance'})
TARGET_SERIES = frozenset(
    {
        'up',
        'scrape_duration_seconds',
        'scrape_samples_scraped',
        'scrape_samples_post_metric_relabeling',
        'scrape_series_added',
    }
)

_TOKEN = re.compile(
    r'''
    (?P<comment>\#[^\n]*)
  | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<variable>\$\{[^}]*\}|\$\w+|\[\[\w+(?::\w+)?\]\])
  | (?P<duration>(?:\d+(?:ms|[smhdwy]))+(?![\w.]))
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^=<>,(){}\[\]@:])
  | (?P<space>\s+)
''',
    re.X,
)


_DURATION_AFTER_COLON = re.compile(r':(?:\d+(?:ms|[smhdwy]))*')


class PromQLError(ValueError):
    """An expression this reader cannot make sense of (unknown function, unbalanced brackets, stray text)."""


@dataclass
class Usage:
    """What one expression refers to."""

    metrics: set[str] = field(default_factory=set)
    # metric -> label names its selectors match on
    matchers: dict[str, set[str]] = field(default_factory=dict)
    # label names of by/without/on/ignoring/group_left/group_right clauses
    grouping: set[str] = field(default_factory=set)
    # metric names given only as a regular expression on __name__ (cannot be checked)
    name_patterns: set[str] = field(default_factory=set)

    def merge(self, other: 'Usage') -> 'Usage':
        self.metrics |= other.metrics
        for metric, labels in other.matchers.items():
            self.matchers.setdefault(metric, set()).update(labels)
        self.grouping |= other.grouping
        self.name_patterns |= other.name_patterns
        return self


def tokens(expr: str) -> list[tuple[str, str]]:
    """``(kind, text)`` pairs without spaces and comments; kinds: string, variable, duration, number, ident, op."""
    out = []
    pos = 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None:
            raise PromQLError(f'unexpected {expr[pos : pos + 20]!r} at offset {pos} in {expr!r}')
        kind = match.lastgroup
        if kind not in ('space', 'comment'):
            out.append((kind, match.group()))
        pos = match.end()
    return out


def _unquote(text: str) -> str:
    if text[0] == '`':
        return text[1:-1]
    return re.sub(r'\\(.)', r'\1', text[1:-1])


def promql_usage(expr: str) -> Usage:
    """The metric names, selector labels and grouping labels of a PromQL expression."""
    toks = tokens(expr)
    usage = Usage()
    depth = {'(': 0, '[': 0}
    i = 0
    n = len(toks)

    def next_text(j):
        return toks[j][1] if j < n else None

    while i < n:
        kind, text = toks[i]
        if kind == 'op' and text == '{':
            i = _read_selector(toks, i, None, usage)
            continue
        if kind == 'op' and text == '[':
            # a range or subquery: durations, numbers, variables and ':' only
            close = i + 1
            while close < n and toks[close][1] != ']':
                # (`[30m:1m]` reads as a duration and the identifier ':1m', which is fine here)
                kind_in, text_in = toks[close]
                if (
                    kind_in not in ('duration', 'number', 'variable')
                    and text_in != ':'
                    and not (kind_in == 'ident' and _DURATION_AFTER_COLON.fullmatch(text_in))
                ):
                    raise PromQLError(f'unexpected {toks[close][1]!r} in a range in {expr!r}')
                close += 1
            if close == n:
                raise PromQLError(f'unclosed [ in {expr!r}')
            i = close + 1
            continue
        if kind == 'op' and text in '()':
            depth['('] += 1 if text == '(' else -1
            if depth['('] < 0:
                raise PromQLError(f'unbalanced ) in {expr!r}')
        if kind == 'op' and text in '}]':
            raise PromQLError(f'unbalanced {text} in {expr!r}')
        if kind != 'ident':
            i += 1
            continue
        word = text.lower()
        if word in GROUPING:
            i += 1
            if next_text(i) == '(':
                i += 1
                while i < n and toks[i][1] != ')':
                    if toks[i][0] == 'ident':
                        usage.grouping.add(toks[i][1])
                    elif toks[i][1] != ',':
                        raise PromQLError(f'unexpected {toks[i][1]!r} in a {word} clause in {expr!r}')
                    i += 1
                if i == n:
                    raise PromQLError(f'unclosed {word} ( in {expr!r}')
                i += 1
            elif word in ('by', 'without', 'on', 'ignoring'):
                raise PromQLError(f'{word} without a label list in {expr!r}')
            continue
        if word in OPERATOR_WORDS or word in NUMBER_WORDS or word in AGGREGATIONS:
            i += 1
            continue
        if next_text(i + 1) == '(':
            if text not in FUNCTIONS:
                raise PromQLError(f'unknown function {text}() in {expr!r}')
            i += 1
            continue
        # a metric name, maybe with a selector
        usage.metrics.add(text)
        usage.matchers.setdefault(text, set())
        i += 1
        if next_text(i) == '{':
            i = _read_selector(toks, i, text, usage)
    if depth['('] != 0:
        raise PromQLError(f'unbalanced ( in {expr!r}')
    return usage


def _read_selector(toks, i, metric, usage: Usage) -> int:
    """Read ``{label op "value", ...}`` starting at toks[i] == '{'; returns the index after '}'."""
    labels = set()
    i += 1
    n = len(toks)
    while i < n and toks[i][1] != '}':
        if toks[i][1] == ',':
            i += 1
            continue
        if (
            i + 2 >= n
            or toks[i][0] != 'ident'
            or toks[i + 1][1] not in ('=', '!=', '=~', '!~')
            or toks[i + 2][0] not in ('string', 'variable')
        ):
            raise PromQLError(f'malformed label matcher near {toks[i][1]!r}')
        label, op, value = toks[i][1], toks[i + 1][1], toks[i + 2]
        if label == '__name__':
            if op == '=' and value[0] == 'string':
                metric = metric or _unquote(value[1])
                usage.metrics.add(metric)
            else:
                usage.name_patterns.add(value[1])
        else:
            labels.add(label)
        i += 3
    if i == n:
        raise PromQLError('unclosed {')
    if metric is not None:
        usage.metrics.add(metric)
        usage.matchers.setdefault(metric, set()).update(labels)
    elif labels:
        usage.matchers.setdefault('', set()).update(labels)
    return i + 1


_LABEL_VALUES = re.compile(r'^\s*label_values\(\s*(?:(?P<selector>.+?)\s*,\s*)?(?P<label>[A-Za-z_]\w*)\s*\)\s*$', re.S)
_LABEL_NAMES = re.compile(r'^\s*label_names\(\s*(?P<selector>.*?)\s*\)\s*$', re.S)
_QUERY_RESULT = re.compile(r'^\s*query_result\(\s*(?P<expr>.+)\)\s*$', re.S)


def grafana_query_usage(query: str) -> Usage:
    """A Grafana template variable query for Prometheus: ``label_values(selector, label)``, ``label_names()``,
    ``query_result(expr)`` or plain PromQL."""
    match = _LABEL_VALUES.match(query)
    if match:
        usage = promql_usage(match.group('selector')) if match.group('selector') else Usage()
        usage.grouping.add(match.group('label'))  # the label must exist on the selected series
        return usage
    match = _LABEL_NAMES.match(query)
    if match:
        return promql_usage(match.group('selector')) if match.group('selector') else Usage()
    match = _QUERY_RESULT.match(query)
    if match:
        return promql_usage(match.group('expr'))
    return promql_usage(query)


# -- where expressions are ------------------------------------------------------------------------------------


@dataclass
class Expression:
    where: str
    expr: str
    kind: str = 'promql'  # or 'grafana-variable'
    annotation_labels: set[str] = field(default_factory=set)  # $labels.x used in a rule's annotations

    def usage(self) -> Usage:
        return grafana_query_usage(self.expr) if self.kind == 'grafana-variable' else promql_usage(self.expr)


_ANNOTATION_LABEL = re.compile(r'\$labels\.([A-Za-z_]\w*)')


def rule_expressions(rules: dict, source: str = 'rules') -> list[Expression]:
    """Every ``expr`` of a Prometheus rule file (already parsed from YAML)."""
    found = []
    for group in rules.get('groups') or []:
        for rule in group.get('rules') or []:
            name = rule.get('alert') or rule.get('record')
            texts = ' '.join(str(v) for v in (rule.get('annotations') or {}).values())
            texts += ' ' + ' '.join(str(v) for v in (rule.get('labels') or {}).values())
            found.append(
                Expression(
                    f'{source}: {group.get("name")}/{name}',
                    str(rule['expr']),
                    annotation_labels=set(_ANNOTATION_LABEL.findall(texts)),
                )
            )
    return found


def dashboard_expressions(dashboard: dict, source: str = 'dashboard') -> list[Expression]:
    """Every Prometheus target of every panel (rows' nested panels included) and every query variable."""
    found = []

    def panels(items):
        for panel in items or []:
            yield panel
            yield from panels(panel.get('panels'))

    for panel in panels(dashboard.get('panels')):
        for target in panel.get('targets') or []:
            if target.get('expr'):
                found.append(
                    Expression(f'{source}: panel {panel.get("title")!r} target {target.get("refId")}', target['expr'])
                )
    for variable in (dashboard.get('templating') or {}).get('list') or []:
        if variable.get('type') != 'query':
            continue
        query = variable.get('query')
        if isinstance(query, dict):
            query = query.get('query')
        if query:
            found.append(Expression(f'{source}: variable ${variable.get("name")}', query, kind='grafana-variable'))
    return found


_PROMQL_BLOCK = re.compile(r'^```promql[ \t]*\n(.*?)^```', re.M | re.S)


def markdown_expressions(text: str, source: str = 'markdown') -> list[Expression]:
    """Fenced ``promql`` code blocks; blank lines separate expressions within a block."""
    found = []
    for number, block in enumerate(_PROMQL_BLOCK.findall(text), 1):
        for part in re.split(r'\n\s*\n', block):
            if part.strip() and not all(line.lstrip().startswith('#') for line in part.strip().splitlines()):
                found.append(Expression(f'{source}: promql block {number}', part))
    return found


def expressions_in(path: Path) -> list[Expression]:
    text = path.read_text()
    if path.suffix in ('.yml', '.yaml'):
        import yaml

        return rule_expressions(yaml.safe_load(text), str(path))
    if path.suffix == '.json':
        return dashboard_expressions(json.loads(text), str(path))
    if path.suffix == '.md':
        return markdown_expressions(text, str(path))
    raise ValueError(f'{path}: not a rule file (.yml), a dashboard (.json) or Markdown (.md)')


# -- what a scrape exports ------------------------------------------------------------------------------------


@dataclass
class Exported:
    """Series names a scrape exports, with the labels seen on each (empty when the family had no samples)."""

    labels: dict[str, set[str]]
    with_samples: set[str]

    def __contains__(self, name: str) -> bool:
        return name in self.labels


_SUFFIXES = {
    'counter': ('_total', '_created'),
    'histogram': ('_bucket', '_sum', '_count', '_created'),
    'summary': ('', '_sum', '_count', '_created'),
    'gaugehistogram': ('_bucket', '_gsum', '_gcount'),
}


def exported_names(exposition: str) -> Exported:
    """Parse Prometheus text exposition: every queryable series name (counters as ``x_total``, histograms as
    ``x_bucket``/``x_sum``/``x_count``) and the label names of its samples."""
    from prometheus_client.parser import text_string_to_metric_families

    labels: dict[str, set[str]] = {}
    with_samples: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        for suffix in _SUFFIXES.get(family.type, ('',)):
            labels.setdefault(family.name + suffix, set())
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
            with_samples.add(sample.name)
    return Exported(labels, with_samples)


def check(expressions: list[Expression], exported: Exported) -> list[str]:
    """Problems, one line each; empty when every expression only uses what the scrape exports."""
    problems = []
    for expression in expressions:
        try:
            usage = expression.usage()
        except PromQLError as exc:
            problems.append(f'{expression.where}: {exc}')
            continue
        known_labels: set[str] = set(TARGET_LABELS)
        unknown = False
        for metric in sorted(usage.metrics):
            if metric in TARGET_SERIES:
                continue
            if metric not in exported:
                problems.append(f'{expression.where}: metric {metric} is not exported')
                unknown = True
                continue
            known_labels |= exported.labels[metric]
        for pattern in sorted(usage.name_patterns):
            problems.append(f'{expression.where}: metric name given as a pattern ({pattern}) cannot be checked')
        for metric, used in sorted(usage.matchers.items()):
            if metric in TARGET_SERIES or metric not in exported:
                continue
            if used - TARGET_LABELS and metric not in exported.with_samples:
                problems.append(
                    f'{expression.where}: {metric} has no samples in the scrape, so its labels '
                    f'{sorted(used)} cannot be checked'
                )
                continue
            for label in sorted(used - exported.labels[metric] - TARGET_LABELS):
                problems.append(
                    f'{expression.where}: {metric} has no label {label!r} (it has {sorted(exported.labels[metric])})'
                )
        if unknown:
            continue  # the labels of a metric that is not there cannot be told apart from typos
        for label in sorted((usage.grouping | expression.annotation_labels) - known_labels):
            problems.append(
                f'{expression.where}: label {label!r} is on none of the metrics used ({sorted(usage.metrics)})'
            )
    return problems


def _read_scrape(source: str) -> str:
    if source.startswith(('http://', 'https://')):
        from urllib.request import urlopen

        with urlopen(source, timeout=10) as response:
            return response.read().decode()
    return Path(source).read_text()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--metrics', required=True, help='a /metrics URL, or a file holding one scrape')
    parser.add_argument('files', nargs='+', type=Path, help='rule files (.yml), dashboards (.json), Markdown (.md)')
    args = parser.parse_args(argv)
    exported = exported_names(_read_scrape(args.metrics))
    expressions = [expression for path in args.files for expression in expressions_in(path)]
    problems = check(expressions, exported)
    for problem in problems:
        print(problem)
    print(f'{len(expressions)} expressions checked, {len(problems)} problems', file=sys.stderr)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
