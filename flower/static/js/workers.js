/* The workers dashboard: the table is fed by GET <prefix>/workers?json=1; the cards and totals follow it. Unless
 * data-autorefresh is 0, the page then watches the workers on the live channel (live.js) and redraws from the
 * rows the server pushes; when the channel is not open it reloads the table every data-autorefresh seconds
 * while the tab is visible instead. */
(function (window, $) {
  'use strict';

  var Flower = window.Flower;
  var $table = $('#workers-table');
  if (!$table.length) {
    return;
  }
  var every = parseFloat($table.attr('data-fl-autorefresh')) || 0;
  var status = document.getElementById('live-status');

  function count(value) {
    return typeof value === 'number' && isFinite(value) ? value : 0;
  }

  function tasksLink(value, state, worker) {
    var query = [];
    if (state) { query.push('state=' + encodeURIComponent(state)); }
    if (worker) { query.push('worker=' + encodeURIComponent(worker)); }
    var href = Flower.url('/tasks') + (query.length ? '?' + query.join('&') : '');
    return '<a href="' + Flower.escape(href) + '">' + Flower.escape(count(value)) + '</a>';
  }

  // the counts are the task list's (row.listed, flower.queries.listed_counts), so each equals the rows its
  // link lists; Flower's event counters (task-received, ...) stay in the rows for API clients
  function listed(row, key) {
    return row && row.listed ? count(row.listed[key]) : 0;
  }

  function countColumn(key, state, extraClass) {
    return {
      data: function (row) { return listed(row, key); },
      className: 'num' + (extraClass ? ' ' + extraClass : ''),
      render: function (value, type, row) {
        return type === 'display' ? tasksLink(value, state, row.hostname) : value;
      }
    };
  }

  var channel = null;  // the live channel: it owns the indicator, except for what polling reports
  var polling = false;

  function setLive(state, text) {
    if (broken !== null) { return; }  // the diagnosis says what is wrong; "Live" would hide it
    if (channel) {
      if (!polling) { return; }
      state = state === 'error' ? state : 'polling';
    }
    if (status) {
      status.setAttribute('data-state', state);
      status.querySelector('.live-text').textContent = text;
    }
  }

  // the "why is this empty?" panel (diagnosis.html), redrawn from the findings ?json=1 carries
  var diagnosisPanel = document.getElementById('diagnosis');
  var broken = null;  // the title of an error finding while there is one: the indicator shows it, not "Live"

  function showDiagnosis(diagnosis) {
    if (!diagnosisPanel || !diagnosis || !Array.isArray(diagnosis.findings)) { return; }
    var wasBroken = broken;
    broken = null;
    diagnosisPanel.innerHTML = diagnosis.findings.map(function (finding) {
      if (finding.severity === 'error' && broken === null) { broken = String(finding.title); }
      return '<div class="alert ' + (finding.severity === 'error' ? 'alert-danger' : 'alert-warning') +
        ' diagnosis-finding" data-diagnosis="' + Flower.escape(finding.code) + '" role="alert">' +
        '<h2 class="diagnosis-title">' + Flower.escape(finding.title) + '</h2>' +
        '<p class="diagnosis-detail">' + Flower.escape(finding.detail) + '</p>' +
        '<p class="diagnosis-fix mb-0"><strong>Fix:</strong> ' + Flower.escape(finding.fix) + '</p></div>';
    }).join('');
    diagnosisPanel.classList.toggle('d-none', diagnosis.findings.length === 0);
    if (broken !== null || wasBroken !== null) { markBroken(); }
  }

  // the live channel sets the indicator when it connects: what is wrong is said again over it
  function markBroken() {
    if (!status) { return; }
    status.setAttribute('data-state', broken !== null ? 'error' : (every ? 'live' : 'paused'));
    status.querySelector('.live-text').textContent = broken !== null ? broken : (every ? 'Live' : 'Loaded');
  }

  function summarise(rows, all) {
    var totals = { online: 0, offline: 0, active: listed(all, 'STARTED'), processed: listed(all, 'all'),
      failed: listed(all, 'FAILURE'), succeeded: listed(all, 'SUCCESS'), retried: listed(all, 'RETRY') };
    rows.forEach(function (row) {
      if (row.status) { totals.online += 1; } else { totals.offline += 1; }
    });
    Object.keys(totals).forEach(function (key) {
      $('[data-stat="' + key + '"], [data-total="' + key + '"]').text(totals[key]);
    });
    $('#workers-empty').toggleClass('d-none', rows.length > 0);
  }

  var table = new window.DataTable($table[0], {
    ajax: {
      url: $table.attr('data-fl-source'),
      dataSrc: function (json) {
        var rows = json && json.data ? json.data : [];
        showDiagnosis(json && json.diagnosis);
        summarise(rows, json);
        setLive(every ? 'live' : 'paused', (every ? 'Updated ' : 'Loaded ') + new Date().toLocaleTimeString());
        return rows;
      },
      error: function () {
        setLive('error', 'Update failed ' + new Date().toLocaleTimeString());
      }
    },
    rowId: function (row) { return String(row.hostname); },
    createdRow: function (tr, row) { tr.classList.toggle('worker-offline', !row.status); },
    columns: [
      { data: 'hostname', render: function (value, type) {
        if (type !== 'display') { return value; }
        return '<a class="worker-link" href="' + Flower.escape(Flower.url('/worker/' + encodeURIComponent(value))) + '">' +
          Flower.escape(value) + '</a>';
      } },
      { data: 'status', render: function (value, type) {
        if (type === 'display') {
          return value ? '<span class="badge text-bg-success">Online</span>' : '<span class="badge text-bg-secondary">Offline</span>';
        }
        return value ? 'online' : 'offline';
      } },
      countColumn('STARTED', 'STARTED'),
      countColumn('all', '', 'wide'),
      countColumn('FAILURE', 'FAILURE', 'wide'),
      countColumn('SUCCESS', 'SUCCESS', 'wide'),
      countColumn('RETRY', 'RETRY', 'wide'),
      { data: 'loadavg', className: 'wide loadavg', orderable: false, render: function (value, type, row) {
        if (!row.status || !Array.isArray(value)) { return '—'; }
        return value.map(function (v) { return Flower.escape(Number(v).toFixed(2)); }).join('  ');
      } }
    ],
    order: [[1, 'desc'], [0, 'asc']],
    pageLength: 15,
    lengthChange: false,
    autoWidth: false,
    layout: { topStart: null, topEnd: null, bottomStart: 'info', bottomEnd: 'paging' },
    language: { info: 'Showing _START_ to _END_ of _TOTAL_ workers', infoEmpty: 'No workers',
      emptyTable: 'No worker has reported yet', zeroRecords: 'No worker matches the filter',
      infoFiltered: '(of _MAX_)' }
  });

  $('#workers-filter').on('input', function () {
    table.search(this.value).draw();
  });

  // rows pushed by the live channel: the same rows as ?json=1, drawn in place (sorting, filter and page kept)
  function onPush(data) {
    var rows = Array.isArray(data.workers) ? data.workers : [];
    table.clear();
    table.rows.add(rows);
    table.draw(false);
    summarise(rows, data);
    if (data.diagnosis) { showDiagnosis(data.diagnosis); }
    if (broken !== null) { markBroken(); }
  }

  if (every > 0) {
    var timer = null;
    var schedule = function () {
      window.clearTimeout(timer);
      if (!polling) { return; }
      timer = window.setTimeout(function () {
        if (document.hidden) {
          schedule();
          return;
        }
        table.ajax.reload(schedule, false);
      }, every * 1000);
    };
    table.on('xhr.dt', function (e, settings, json, xhr) {
      if (!json && xhr && xhr.status !== 200) {
        schedule();  // keep trying after a failed update
      }
    });
    var poller = {
      text: 'Polling every ' + every + ' s',
      start: function () { polling = true; schedule(); },
      stop: function () { polling = false; window.clearTimeout(timer); }
    };
    if (window.FlowerLive) {
      // the channel pushes the rows and the diagnosis with them, and refreshes them every few seconds
      channel = window.FlowerLive.open({ watch: { page: 'workers' }, onUpdate: onPush, poll: poller });
    } else {
      poller.start();  // a customised base.html without live.js: poll as before
    }
  }
}(window, window.jQuery));
