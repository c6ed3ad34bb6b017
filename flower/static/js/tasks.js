/* The tasks table: DataTables in server-side mode against POST <prefix>/tasks/datatable, one page of rows per
 * request (sorted, filtered and paged by the server). Each row carries the text of its time and runtime cells,
 * formatted by the server as on every other page (flower.views.tasks.row_display): the browser formats no time.
 * State pills and the worker/name chips filter exactly; the search box speaks the query language and shows its
 * errors inline. While "Live updates" is on, the page watches its current page of rows (filters,
 * search, sort, start, length) on the live channel (live.js) and draws the rows the server pushes, without a
 * request; when the channel is not open it reloads the rows every data-refresh seconds instead. */
(function (window, $) {
  'use strict';

  var Flower = window.Flower;
  var $table = $('#tasks-table');
  if (!$table.length) {
    return;
  }
  var el = $table[0];
  var columns = (el.getAttribute('data-fl-columns') || '').split(',').filter(Boolean);
  var every = parseFloat(el.getAttribute('data-fl-refresh')) || 0;
  var filters = { state: el.getAttribute('data-fl-state') || '', worker: el.getAttribute('data-fl-worker') || '',
    name: el.getAttribute('data-fl-name') || '' };
  var searchInput = document.getElementById('tasks-search');
  var errorBox = document.getElementById('search-error');
  // cells whose text the server formats (task_row's `display`: times in the pages' format, durations)
  var DISPLAYED_COLUMNS = { received: 1, started: 1, revoked: 1, eta: 1, expires: 1, runtime: 1 };
  var CODE_COLUMNS = { args: 1, kwargs: 1, result: 1, exception: 1 };

  var MISSING = '<span class="missing" aria-label="none">—</span>';

  function missing(value) {
    return value === null || value === undefined || value === '';
  }

  function taskHref(uuid) {
    return Flower.url('/task/' + encodeURIComponent(uuid));
  }

  function renderer(slug) {
    if (slug === 'name') {
      return function (value, type, row) {
        if (type !== 'display') { return value; }
        return '<a class="task-link" href="' + Flower.escape(taskHref(row.uuid)) + '">' +
          (missing(value) ? 'unnamed' : Flower.escape(value)) + '</a>';
      };
    }
    if (slug === 'uuid') {
      return function (value, type) {
        if (type !== 'display') { return value; }
        return '<a class="uuid-link" href="' + Flower.escape(taskHref(value)) + '">' + Flower.escape(value) + '</a>';
      };
    }
    if (slug === 'state') {
      return function (value, type, row) {
        if (type !== 'display') { return value; }
        return '<span class="badge state-badge" data-state="' + Flower.escape(value) + '">' + Flower.escape(value) + '</span>' +
          (row && row.revoked_pending ? ' <span class="badge revoked-pending-badge" title="Revoked from here; the worker reports REVOKED when the task comes due">revoke pending</span>' : '');
      };
    }
    if (slug === 'worker') {
      return function (value, type) {
        if (type !== 'display') { return value; }
        if (missing(value)) { return MISSING; }
        return '<a class="worker-link" href="' + Flower.escape(Flower.url('/worker/' + encodeURIComponent(value))) + '">' +
          Flower.escape(value) + '</a>';
      };
    }
    if (DISPLAYED_COLUMNS[slug]) {
      // the text and tooltip the server rendered for this cell; the browser formats no time or duration
      return function (value, type, row) {
        if (type !== 'display') { return value; }
        var shown = row && row.display && row.display[slug];
        if (!shown) { return missing(value) ? MISSING : Flower.escape(value); }
        var tag = slug === 'runtime' ? 'span' : 'time';
        return '<' + tag + ' title="' + Flower.escape(shown.title) + '">' + Flower.escape(shown.text) + '</' + tag + '>';
      };
    }
    if (CODE_COLUMNS[slug]) {
      return function (value, type) {
        if (type !== 'display') { return value; }
        return missing(value) ? MISSING : '<code class="cell-code">' + Flower.escape(value) + '</code>';
      };
    }
    return function (value, type) {
      if (type !== 'display') { return value; }
      return missing(value) ? MISSING : Flower.escape(value);
    };
  }

  var headers = $table.find('thead th').toArray();
  var columnDefs = columns.map(function (slug, index) {
    return { data: slug, name: slug, defaultContent: '', render: renderer(slug),
      className: (headers[index] ? headers[index].className : 'col-' + slug) };
  });

  function showError(message) {
    if (message) {
      document.getElementById('search-error-text').textContent = message;
      errorBox.classList.remove('d-none');
      searchInput.setAttribute('aria-invalid', 'true');
    } else {
      errorBox.classList.add('d-none');
      searchInput.removeAttribute('aria-invalid');
    }
  }

  var inFlight = false;
  var token = document.body.getAttribute('data-xsrf');
  var channel = null;    // the live channel, when live.js is on the page and updates are wanted
  var pushed = null;     // rows the channel pushed for the view being drawn: {view, data}

  /* What the table shows, as the live channel's watch message names it (the server re-runs the same query). */
  function viewOf(request) {
    var order = request.order && request.order[0];
    var column = order && request.columns ? request.columns[order.column] : null;
    return { page: 'tasks', state: filters.state, worker: filters.worker, name: filters.name,
      search: (request.search && request.search.value) || '', sort: column && column.data ? column.data : null,
      dir: order && order.dir === 'desc' ? 'desc' : 'asc', start: request.start, length: request.length };
  }

  function liveWanted() {
    return !live || live.checked;
  }

  // DataTables asks for every draw here: a draw the channel's rows triggered is answered with them, any other
  // (first load, the user's search/sort/paging, polling) with a request to /tasks/datatable.
  function load(request, callback) {
    var view = viewOf(request);
    if (pushed && JSON.stringify(pushed.view) === JSON.stringify(view)) {
      var data = pushed.data;
      pushed = null;
      callback({ draw: request.draw, data: data.rows || [], recordsTotal: data.recordsTotal,
        recordsFiltered: data.recordsFiltered });
      return;
    }
    inFlight = true;
    if (filters.state) { request.state = filters.state; }
    if (filters.worker) { request.worker = filters.worker; }
    if (filters.name) { request.name = filters.name; }
    $.ajax({ url: el.getAttribute('data-fl-source'), type: 'POST', data: request, dataType: 'json',
      headers: token ? { 'X-XSRFToken': token } : {} })
      .done(function (json) {
        inFlight = false;
        showError(json.searchError || '');
        callback(json);
        // watch what is on screen now; asked after the answer, so no change after it is missed
        if (channel && liveWanted()) { channel.watch(view); }
      })
      .fail(function (xhr) {
        inFlight = false;
        var text = xhr && xhr.responseText && xhr.responseText.charAt(0) !== '<' ? xhr.responseText : 'the server did not answer';
        Flower.toast('Loading the tasks failed: ' + text, 'error');
      });
  }

  var table = new window.DataTable(el, {
    serverSide: true,
    processing: false,
    ajax: load,
    columns: columnDefs,
    order: [[parseInt(el.getAttribute('data-fl-sort-column'), 10) || 0, 'desc']],
    search: { search: searchInput.value || '' },
    pageLength: 15,
    lengthMenu: [15, 30, 50, 100],
    autoWidth: false,
    rowId: function (row) { return 'task-' + row.uuid; },
    layout: { topStart: null, topEnd: null, bottomStart: ['pageLength', 'info'], bottomEnd: 'paging' },
    language: { info: '_START_–_END_ of _TOTAL_ tasks', infoEmpty: 'No tasks', infoFiltered: '(of _MAX_ in memory)',
      emptyTable: 'No tasks to show yet', zeroRecords: 'No task matches', lengthMenu: '_MENU_ per page' }
  });

  // -- the address bar follows the filters, so a filtered view can be shared -----------------------------------
  function syncUrl() {
    var query = new window.URLSearchParams();
    if (filters.state) { query.set('state', filters.state); }
    if (filters.worker) { query.set('worker', filters.worker); }
    if (filters.name) { query.set('name', filters.name); }
    if (searchInput.value) { query.set('search', searchInput.value); }
    var text = query.toString();
    window.history.replaceState(null, '', window.location.pathname + (text ? '?' + text : ''));
  }

  var debounce = null;
  $(searchInput).on('input', function () {
    window.clearTimeout(debounce);
    debounce = window.setTimeout(function () {
      table.search(searchInput.value.trim()).draw();
      syncUrl();
    }, 300);
  });

  $('[data-state-filter]').on('click', function () {
    filters.state = this.getAttribute('data-state-filter');
    $('[data-state-filter]').each(function () {
      var active = this.getAttribute('data-state-filter') === filters.state;
      this.classList.toggle('active', active);
      this.setAttribute('aria-pressed', active ? 'true' : 'false');
    });
    table.draw();
    syncUrl();
  });

  $('[data-clear-filter]').on('click', function () {
    var key = this.getAttribute('data-clear-filter');
    filters[key] = '';
    $('[data-chip="' + key + '"]').addClass('d-none');
    table.draw();
    syncUrl();
  });

  // -- live updates ------------------------------------------------------------------------------------------
  var live = document.getElementById('tasks-live');
  var pollTimer = null;
  var poller = {
    text: 'Polling every ' + every + ' s',
    start: function () {
      window.clearInterval(pollTimer);
      pollTimer = window.setInterval(function () {
        if (!liveWanted() || document.hidden || inFlight) { return; }
        table.ajax.reload(null, false);
      }, every * 1000);
    },
    stop: function () {
      window.clearInterval(pollTimer);
      pollTimer = null;
    }
  };

  function onPush(data) {
    if (data.error) {  // the search cannot be parsed: the server says so once, as /tasks/datatable did
      showError(data.error);
      return;
    }
    if (!liveWanted() || inFlight) {
      return;  // a request for a newer view is on its way; its answer re-watches
    }
    pushed = { view: viewOf(table.ajax.params()), data: data };
    table.draw(false);  // answered by load() from `pushed`, synchronously
    pushed = null;
  }

  if (every > 0) {
    if (window.FlowerLive) {
      // watched once the first page of rows has been loaded (see load())
      channel = window.FlowerLive.open({ watch: null, onUpdate: onPush, poll: poller });
    } else {
      poller.start();  // a customised base.html without live.js: poll as before
    }
    if (live) {
      $(live).on('change', function () {
        if (!channel) { return; }
        if (live.checked) {
          table.ajax.reload(null, false);  // fresh rows now, then watched again
        } else {
          channel.watch(null);
        }
      });
    }
  } else if (live) {
    live.closest('.live-switch').classList.add('d-none');
  }
}(window, window.jQuery));
