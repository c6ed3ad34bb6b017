/* One task's page: Revoke, Terminate and Retry call the REST API and report in toasts. The page watches the
 * task on the live channel (live.js): its state, fields and available actions follow its events without a
 * reload, as fragments the server renders with the page's own templates (escaped there). */
(function (window, $) {
  'use strict';

  var Flower = window.Flower;
  var page = document.getElementById('task-page');
  if (!page) {
    return;
  }
  var taskId = page.getAttribute('data-task');

  function act(button, endpoint, params, after) {
    button.disabled = true;
    Flower.api('POST', endpoint, params).then(function (answer) {
      after(answer);
    }, function (err) {
      Flower.toast(err.message, 'error');
      button.disabled = false;
    });
  }

  // what an action changed is fetched from the server and shown in place (the toast stays); the live channel,
  // when open, also follows the task's next events
  var PARTS = ['#task-name', '#task-badges', '#task-actions', '#retry-refusal', '#task-fields'];

  function refresh() {
    return Flower.refreshParts(PARTS).then(function () {
      var badge = document.getElementById('task-state');
      if (badge) { page.setAttribute('data-state', badge.getAttribute('data-state')); }
    }, function (err) {
      Flower.toast('The page could not be refreshed: ' + err.message, 'error');
    });
  }

  $(document).on('click', '[data-action="revoke"]', function () {
    act(this, 'task/revoke/' + encodeURIComponent(taskId), { terminate: 'false' }, function (answer) {
      Flower.toast(answer.message || 'Revoked.', 'success');
      refresh();
    });
  });

  $(document).on('click', '[data-action="terminate"]', function () {
    var button = this;
    var dialog = window.bootstrap.Modal.getInstance(document.getElementById('terminate-dialog'));
    act(button, 'task/revoke/' + encodeURIComponent(taskId), { terminate: 'true', signal: 'SIGTERM' }, function (answer) {
      if (dialog) { dialog.hide(); }
      button.disabled = false;
      Flower.toast(answer.message || 'Terminated.', 'success');
      refresh();
    });
  });

  $(document).on('click', '[data-action="retry"]', function () {
    var button = this;
    act(button, 'task/retry/' + encodeURIComponent(taskId), {}, function (answer) {
      var newId = answer['task-id'];
      Flower.toast(answer.message || 'Sent again.', 'success',
        newId ? { href: Flower.url('/task/' + encodeURIComponent(newId)), text: 'Open the new task' } : null);
      refresh();  // shows "Retried as <new id>"
    });
  });

  // -- live updates ------------------------------------------------------------------------------------------
  // The server pushes the heading, the state, the actions and the fields as fragments (flower.views.modules),
  // rendered as on a reload; {gone: true} once the task left memory, and then the page keeps what it shows.
  function showTask(data) {
    if (data.gone || !data.fragments) {
      return;
    }
    Flower.swapFragments(data.fragments);
    page.setAttribute('data-state', data.state);
  }

  if (window.FlowerLive) {
    window.FlowerLive.open({ watch: { page: 'task', id: taskId }, onUpdate: showTask });
  }
}(window, window.jQuery));
