/* One worker's page: the controls call the REST API (/api/worker/..., /api/task/rate-limit|timeout/...) and
 * report in toasts; the open tab is kept in the URL's #hash. The page watches the worker on the live channel
 * (live.js): its status, load average and heartbeat period follow its events (fragments the server renders), and
 * when it goes offline or comes back, or after a control, the page fetches what the worker reports now and shows
 * it in place (no reload). */
(function (window, $) {
  'use strict';

  var Flower = window.Flower;
  var page = document.getElementById('worker-page');
  if (!page) {
    return;
  }
  var worker = page.getAttribute('data-worker');

  // -- tabs ------------------------------------------------------------------------------------------------
  function showTab(name) {
    var button = document.querySelector('#worker-tabs [data-tab="' + name + '"]');
    if (button) {
      window.bootstrap.Tab.getOrCreateInstance(button).show();
    }
  }
  if (window.location.hash) {
    showTab(window.location.hash.slice(1));
  }
  $('#worker-tabs [data-tab]').on('shown.bs.tab', function () {
    window.history.replaceState(null, '', '#' + this.getAttribute('data-tab'));
  });

  // -- controls ---------------------------------------------------------------------------------------------
  // After a control, or when the worker goes offline or comes back, the parts that show what the worker reported
  // are fetched again (the server inspects it afresh) and replaced in place: the open tab and the toast stay.
  // data-refreshed counts the refreshes done, so a test (or a person) can tell the page is current.
  var PARTS = ['#inspection-notice', '#pane-pool', '#pane-broker', '#pane-queues', '#pane-tasks', '#pane-limits',
    '#pane-config', '#pane-system', '#pane-other'];
  var refreshes = 0;

  function changed() {
    page.setAttribute('aria-busy', 'true');
    return Flower.refreshParts(PARTS).then(function () {
      refreshes += 1;
      page.setAttribute('data-refreshed', String(refreshes));
    }, function (err) {
      Flower.toast('The page could not be refreshed: ' + err.message, 'error');
    }).finally(function () {
      page.removeAttribute('aria-busy');
    });
  }

  function run(endpoint, params, button) {
    if (button) { button.disabled = true; }
    return Flower.api('POST', endpoint, params).then(function (answer) {
      Flower.toast(answer.message || 'The worker accepted the command.', 'success');
      return answer;
    }, function (err) {
      Flower.toast(err.message, 'error');
      throw err;
    }).finally(function () {
      if (button) { button.disabled = false; }
    });
  }

  function params(form) {
    var values = {};
    $(form).serializeArray().forEach(function (field) {
      if (field.value !== '') { values[field.name] = field.value; }
    });
    return values;
  }

  $(document).on('submit', 'form.api-form', function (event) {
    event.preventDefault();
    var form = this;
    var submitter = event.originalEvent && event.originalEvent.submitter;
    var api = submitter && submitter.getAttribute('data-use') === 'alt-api'
      ? form.getAttribute('data-alt-api') : form.getAttribute('data-api');
    // the worker's name is the path, except for task limits, whose path is the task's name
    var target = form.getAttribute('data-path') || worker;
    run(api + '/' + encodeURIComponent(target), params(form), submitter || null).then(changed, function () {});
  });

  $(document).on('click', '[data-action="pool-restart"]', function () {
    run('worker/pool/restart/' + encodeURIComponent(worker), {}, this).then(changed, function () {});
  });

  $(document).on('click', '[data-action="shutdown"]', function () {
    var dialog = window.bootstrap.Modal.getInstance(document.getElementById('shutdown-dialog'));
    run('worker/shutdown/' + encodeURIComponent(worker), {}, this).then(function () {
      if (dialog) { dialog.hide(); }
      changed();
    }, function () {
      if (dialog) { dialog.hide(); }
    });
  });

  $(document).on('click', '[data-action="refresh"]', function () {
    changed();
  });

  // What the worker reports can change from elsewhere (celery's CLI, another monitor, a deploy): while the page
  // is visible it asks again every 30 s (?reinspect=N sets the period, 0 turns it off), one request at a time.
  var reinspect = Number(new URLSearchParams(window.location.search).get('reinspect') || 30);
  if (reinspect > 0) {
    window.setInterval(function () {
      if (!document.hidden && page.getAttribute('aria-busy') !== 'true') { changed(); }
    }, reinspect * 1000);
  }

  // -- live updates ------------------------------------------------------------------------------------------
  // The server pushes the status badge and the heartbeat rows as fragments (flower.views.modules); when the
  // worker goes offline or comes back, what it reports is fetched afresh too.
  function online() {
    var badge = document.getElementById('worker-status');
    return badge ? badge.getAttribute('data-online') === 'true' : null;
  }

  function showWorker(data) {
    var was = online();
    Flower.swapFragments(data.fragments);
    if (was !== online()) { changed(); }
  }

  if (window.FlowerLive) {
    window.FlowerLive.open({ watch: { page: 'worker', name: worker }, onUpdate: showWorker });
  }
}(window, window.jQuery));
