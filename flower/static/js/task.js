/* One task's page: Revoke, Terminate and Retry call the REST API and report in toasts. The page watches the
 * task on the live channel (live.js): its state, fields and available actions follow its events without a
 * reload. Every value is put into the page as text (textContent), whatever the task carries. */
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
  var PARTS = ['#task-state', '#task-actions', '#retry-refusal', '#task-fields'];

  function refresh() {
    return Flower.refreshParts(PARTS).then(function () {
      shown = {};  // the rows are the server's now
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
  var shown = {};  // field name -> what its row shows (JSON), so rows that did not change are left alone

  function node(tag, className, text) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    if (text !== undefined && text !== null) { el.textContent = String(text); }
    return el;
  }

  function taskLink(id, note) {
    var fragment = document.createDocumentFragment();
    var link = node('a', 'font-monospace', id);
    link.href = Flower.url('/task/' + encodeURIComponent(id));
    fragment.appendChild(link);
    if (note) {
      fragment.appendChild(document.createTextNode(' '));
      fragment.appendChild(node('span', 'text-body-secondary ms-1', note));
    }
    return fragment;
  }

  function valueCell(field) {
    var cell = document.createElement('td');
    var kind = field.kind;
    if (kind === 'state') {
      var badge = node('span', 'badge state-badge', field.text);
      badge.setAttribute('data-state', field.text);
      cell.appendChild(badge);
    } else if (kind === 'time') {
      var time = node('time', '', field.text);
      time.setAttribute('data-timestamp', String(field.value));
      time.title = field.title || '';
      cell.appendChild(time);
    } else if (kind === 'duration') {
      var span = node('span', '', field.text);
      span.title = field.title || '';
      cell.appendChild(span);
    } else if (kind === 'worker') {
      var worker = node('a', 'worker-link', field.text);
      worker.href = Flower.url('/worker/' + encodeURIComponent(field.text));
      cell.appendChild(worker);
    } else if (kind === 'task') {
      cell.appendChild(taskLink(field.text, field.note));
    } else if (kind === 'tasks') {
      var list = node('ul', 'id-list mb-0');
      (field.items || []).forEach(function (child) {
        var item = document.createElement('li');
        item.appendChild(taskLink(child.id, child.note));
        list.appendChild(item);
      });
      cell.appendChild(list);
    } else if (kind === 'code' || kind === 'traceback') {
      var block = node('div', 'value-block');
      var pre = node('pre', kind === 'traceback' ? 'traceback' : 'code-value', field.text);
      pre.id = 'value-' + field.name;
      var copy = node('button', 'btn btn-sm btn-outline-secondary copy-button', 'Copy');
      copy.type = 'button';
      copy.setAttribute('data-copy-target', '#value-' + field.name);
      copy.setAttribute('aria-label', 'Copy the ' + String(field.label).toLowerCase());
      block.appendChild(pre);
      block.appendChild(copy);
      cell.appendChild(block);
      if (field.truncated) {
        var note = node('p', 'truncated-note', field.truncated);
        note.setAttribute('role', 'note');
        cell.appendChild(note);
      }
    } else {
      cell.textContent = field.text;
    }
    return cell;
  }

  function fieldRow(field) {
    var row = document.createElement('tr');
    row.setAttribute('data-field', field.name);
    row.appendChild(node('th', '', field.label)).setAttribute('scope', 'row');
    row.appendChild(valueCell(field));
    return row;
  }

  function showTask(data) {
    var task = data.task;
    if (!task) {
      return;  // no longer in memory (or not yet): what the page shows is the last known
    }
    document.getElementById('task-name').textContent = task.name || 'Unnamed task';
    var badge = document.getElementById('task-state');
    if (badge) {
      badge.textContent = task.state;
      badge.setAttribute('data-state', task.state);
    }
    page.setAttribute('data-state', task.state);
    var pending = document.getElementById('revoked-pending');
    if (pending) {
      pending.hidden = !task.revoked_pending;
    }
    var fieldsBody = document.querySelector('#task-fields tbody');  // looked up each time: a refresh replaces it
    if (fieldsBody) {
      var existing = {};
      Array.prototype.forEach.call(fieldsBody.children, function (row) {
        existing[row.getAttribute('data-field')] = row;
      });
      var next = {};
      var rows = (task.fields || []).map(function (field) {
        var key = JSON.stringify(field);
        next[field.name] = key;
        return shown[field.name] === key && existing[field.name] ? existing[field.name] : fieldRow(field);
      });
      shown = next;
      fieldsBody.replaceChildren.apply(fieldsBody, rows);
    }
    var actions = task.actions || {};
    [['task-revoke', actions.revoke], ['task-terminate', actions.terminate], ['task-retry', actions.retry]].forEach(function (pair) {
      var button = document.getElementById(pair[0]);
      if (button) { button.classList.toggle('d-none', !pair[1]); }
    });
    var refusal = document.getElementById('retry-refusal');
    if (refusal) {
      refusal.classList.toggle('d-none', !actions.retry_refusal);
      document.getElementById('retry-refusal-reason').textContent = actions.retry_refusal || '';
    }
  }

  if (window.FlowerLive) {
    window.FlowerLive.open({ watch: { page: 'task', id: taskId }, onUpdate: showTask });
  }
}(window, window.jQuery));
