/* The workers dashboard. The rows, the cards, the totals and the "why is this empty?" panel are the server's
 * fragments (flower.views.modules): rendered into the page, then, unless data-fl-autorefresh is 0, pushed by the
 * live channel (live.js) as they change, or, while the channel is not open, fetched with the page itself every
 * data-fl-autorefresh seconds while the tab is visible. DataTables only sorts, filters and pages the rows it is
 * given; it never fetches them, and nothing here builds markup. */
(function (window, $) {
  'use strict';

  var Flower = window.Flower;
  var $table = $('#workers-table');
  if (!$table.length) {
    return;
  }
  var every = parseFloat($table.attr('data-fl-autorefresh')) || 0;
  var status = document.getElementById('live-status');
  var PARTS = ['diagnosis', 'workers-summary', 'workers-rows', 'workers-totals', 'workers-empty'];

  var table = new window.DataTable($table[0], {
    order: [[1, 'desc'], [0, 'asc']],  // "Online" before "Offline", then by name
    columnDefs: [{ targets: 7, orderable: false }],
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

  // the rows are DataTables': swapped through its API, so the sorting, the filter and the page are kept
  var shownRows = null;
  var owners = {
    'workers-rows': function (next) {
      var html = next.innerHTML;
      if (html === shownRows) { return; }
      shownRows = html;
      table.clear();
      table.rows.add(Array.prototype.map.call(next.querySelectorAll('tr'), function (tr) {
        return document.importNode(tr, true);
      }));
      table.draw(false);
    }
  };

  // While the diagnosis has an error, the indicator says it (as the server rendered it), not "Live"
  function markBroken() {
    var error = document.querySelector('#diagnosis .alert-danger .diagnosis-title');
    if (!status || (!error && status.getAttribute('data-state') !== 'error')) { return; }
    status.setAttribute('data-state', error ? 'error' : (every ? 'live' : 'paused'));
    status.querySelector('.live-text').textContent = error ? error.textContent : (every ? 'Live' : 'Loaded');
  }

  function show(fragments) {
    Flower.swapFragments(fragments, owners);
    markBroken();
  }

  if (every > 0) {
    var timer = null;
    var polling = false;
    var schedule = function () {
      window.clearTimeout(timer);
      if (!polling) { return; }
      timer = window.setTimeout(function () {
        if (document.hidden) {
          schedule();
          return;
        }
        Flower.fetchFragments(PARTS).then(show, function () {}).finally(schedule);
      }, every * 1000);
    };
    var poller = {
      text: 'Polling every ' + every + ' s',
      start: function () { polling = true; schedule(); },
      stop: function () { polling = false; window.clearTimeout(timer); }
    };
    if (window.FlowerLive) {
      window.FlowerLive.open({
        watch: { page: 'workers' },
        onUpdate: function (data) { show(data.fragments); },
        onStatus: markBroken,
        poll: poller
      });
    } else {
      poller.start();  // a customised base.html without live.js: poll
    }
  }
}(window, window.jQuery));
