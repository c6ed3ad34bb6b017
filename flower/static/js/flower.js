/* Behaviour shared by every page: URLs under --url_prefix, calls to the REST API, toasts, copy buttons, the
 * theme menu, and swapping in the server's fragments (the pages' parts that update live are rendered on the
 * server, flower.views.modules, for the first load and for every update alike).
 *
 * Everything that came from Celery (task names, arguments, results, worker names) is text: it is put into the
 * page with textContent / jQuery .text(), or through Flower.escape() when a DataTables renderer must return
 * HTML. Nothing here evaluates or injects such a value as markup. */
(function (window, $) {
  'use strict';

  var body = document.body;
  var prefix = (body.getAttribute('data-url-prefix') || '').replace(/\/+$/, '');
  if (prefix && prefix.charAt(0) !== '/') {
    prefix = '/' + prefix;
  }

  function url(path) {
    return prefix + (path.charAt(0) === '/' ? path : '/' + path);
  }

  var ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

  function escape(value) {
    if (value === null || value === undefined) {
      return '';
    }
    return String(value).replace(/[&<>"'`]/g, function (ch) { return ESCAPES[ch]; });
  }

  // -- the REST API ----------------------------------------------------------------------------------------
  function errorMessage(xhr) {
    var text = xhr && xhr.responseText ? String(xhr.responseText).trim() : '';
    if (text && text.charAt(0) === '{') {
      try {
        var parsed = JSON.parse(text);
        text = parsed.error || parsed.message || text;
      } catch (e) { /* plain text after all */ }
    }
    if (!text || text.charAt(0) === '<') {
      text = xhr && xhr.status ? 'The server answered ' + xhr.status + ' ' + (xhr.statusText || '') : 'The server could not be reached';
    }
    return text;
  }

  /* The XSRF token the server asks for on state-changing requests made with a login session: the page
   * carries it (data-xsrf); a page from a customised template without it falls back to tornado's _xsrf cookie. */
  function xsrfToken() {
    var token = body.getAttribute('data-xsrf');
    if (token) {
      return token;
    }
    var match = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : '';
  }

  // Every state-changing jQuery request to this server carries the token (the API helper below, the tasks
  // table's POSTs, any page script); GETs and requests to other sites never do.
  $.ajaxPrefilter(function (options, originalOptions, xhr) {
    var method = String(options.type || options.method || 'GET').toUpperCase();
    if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || options.crossDomain) {
      return;
    }
    var token = xsrfToken();
    if (token) {
      xhr.setRequestHeader('X-XSRFToken', token);
    }
  });

  /* POST (or GET) /api/<path> with form parameters; resolves with the parsed JSON answer, rejects with an
   * Error whose message is the server's own explanation. */
  function api(method, path, params) {
    return new Promise(function (resolve, reject) {
      $.ajax({ type: method, url: url('/api/' + path), data: params || {}, dataType: 'json' })
        .done(function (data) { resolve(data || {}); })
        .fail(function (xhr) { reject(new Error(errorMessage(xhr))); });
    });
  }

  // -- server-rendered fragments ------------------------------------------------------------------------------
  /* Put `next` (a parsed element) in place of `now`: `now` takes its attributes and children. Children equal to
   * the shown ones are kept as they are, so a selection or a focus inside a part that did not change stays; an
   * open tab keeps its place (the active/show classes are the page's, not the server's). */
  function morph(now, next) {
    var keep = now.classList.contains('tab-pane') ? now.className : null;
    Array.prototype.slice.call(now.attributes).forEach(function (attr) {
      if (!next.hasAttribute(attr.name)) { now.removeAttribute(attr.name); }
    });
    Array.prototype.forEach.call(next.attributes, function (attr) {
      if (now.getAttribute(attr.name) !== attr.value) { now.setAttribute(attr.name, attr.value); }
    });
    if (keep !== null) { now.className = keep; }
    var shown = Array.prototype.slice.call(now.childNodes);
    now.replaceChildren.apply(now, Array.prototype.map.call(next.childNodes, function (child, i) {
      return shown[i] && shown[i].isEqualNode(child) ? shown[i] : document.importNode(child, true);
    }));
  }

  /* Swap in server-rendered fragments, {element id: HTML} (the live channel's updates, or parts of a fetched
   * page): each element with that id takes the fragment's attributes and children. The HTML is the server's own
   * template output (flower.views.modules, escaped there), parsed in an inert <template>: nothing in it runs,
   * and the page's Content-Security-Policy allows no inline script or handler anyway. `owners[id](element)`
   * takes over a part a library manages (the workers table's rows, which DataTables holds). Returns the ids
   * swapped. */
  function swapFragments(fragments, owners) {
    var swapped = [];
    Object.keys(fragments || {}).forEach(function (id) {
      var now = document.getElementById(id);
      if (!now) { return; }
      var template = document.createElement('template');
      template.innerHTML = String(fragments[id]);
      var next = template.content.firstElementChild;
      if (!next || next.id !== id) { return; }
      if (owners && owners[id]) {
        owners[id](next);
      } else {
        morph(now, next);
      }
      swapped.push(id);
    });
    return swapped;
  }

  /* Fetch this page again and put the server's fresh rendering of each element matched by `selectors` (ids)
   * in place of the shown one (morph): what a control changed is shown without a reload, so the toast that
   * confirmed it stays. The parser runs no scripts. Resolves with the number of parts replaced. */
  function refreshParts(selectors) {
    return new Promise(function (resolve, reject) {
      $.ajax({ type: 'GET', url: window.location.pathname + window.location.search, dataType: 'text' })
        .done(function (html) {
          var fresh = new window.DOMParser().parseFromString(html, 'text/html');
          var replaced = 0;
          selectors.forEach(function (selector) {
            var now = document.querySelector(selector);
            var next = fresh.querySelector(selector);
            if (!now || !next) { return; }
            morph(now, next);
            replaced += 1;
          });
          resolve(replaced);
        })
        .fail(function (xhr) { reject(new Error(errorMessage(xhr))); });
    });
  }

  /* This page fetched again, as {id: HTML} of the elements with these ids (for swapFragments): how a page whose
   * live channel is not open polls for the same fragments the channel would push. */
  function fetchFragments(ids) {
    return new Promise(function (resolve, reject) {
      $.ajax({ type: 'GET', url: window.location.pathname + window.location.search, dataType: 'text' })
        .done(function (html) {
          var fresh = new window.DOMParser().parseFromString(html, 'text/html');
          var fragments = {};
          ids.forEach(function (id) {
            var next = fresh.getElementById(id);
            if (next) { fragments[id] = next.outerHTML; }
          });
          resolve(fragments);
        })
        .fail(function (xhr) { reject(new Error(errorMessage(xhr))); });
    });
  }

  // -- toasts ----------------------------------------------------------------------------------------------
  /* kind: 'success' | 'error' | 'info'; link: optional {href, text} added after the message. */
  function toast(message, kind, link) {
    kind = kind || 'info';
    var container = document.getElementById('toasts');
    var el = document.createElement('div');
    el.className = 'toast toast-' + kind;
    el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    el.setAttribute('aria-live', kind === 'error' ? 'assertive' : 'polite');
    el.setAttribute('aria-atomic', 'true');
    var row = document.createElement('div');
    row.className = 'd-flex';
    var text = document.createElement('div');
    text.className = 'toast-body';
    var strong = document.createElement('strong');
    strong.textContent = kind === 'error' ? 'Failed: ' : (kind === 'success' ? 'Done: ' : '');
    text.appendChild(strong);
    text.appendChild(document.createTextNode(message));
    if (link && link.href) {
      var a = document.createElement('a');
      a.href = link.href;
      a.className = 'ms-1';
      a.textContent = link.text || link.href;
      text.appendChild(a);
    }
    var close = document.createElement('button');
    close.type = 'button';
    close.className = 'btn-close me-2 m-auto';
    close.setAttribute('data-bs-dismiss', 'toast');
    close.setAttribute('aria-label', 'Close');
    row.appendChild(text);
    row.appendChild(close);
    el.appendChild(row);
    container.appendChild(el);
    var instance = new window.bootstrap.Toast(el, { delay: kind === 'error' ? 10000 : 5000 });
    el.addEventListener('hidden.bs.toast', function () { el.remove(); });
    instance.show();
    return el;
  }

  // -- copy buttons --------------------------------------------------------------------------------------------
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement('textarea');
      area.value = text;
      area.setAttribute('readonly', '');
      area.style.position = 'fixed';
      area.style.opacity = '0';
      document.body.appendChild(area);
      area.select();
      var ok;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      area.remove();
      if (ok) { resolve(); } else { reject(new Error('The browser did not allow copying')); }
    });
  }

  $(document).on('click', '[data-copy-target]', function () {
    var target = document.querySelector(this.getAttribute('data-copy-target'));
    if (!target) {
      return;
    }
    copyText(target.textContent).then(function () {
      toast('copied to the clipboard.', 'success');
    }, function (err) {
      toast(err.message, 'error');
    });
  });

  // -- theme menu ------------------------------------------------------------------------------------------
  function markTheme() {
    var current = window.FlowerTheme ? window.FlowerTheme.current() : 'auto';
    $('[data-theme-choice]').each(function () {
      var active = this.getAttribute('data-theme-choice') === current;
      this.classList.toggle('active', active);
      this.setAttribute('aria-pressed', active ? 'true' : 'false');
    });
  }

  $(document).on('click', '[data-theme-choice]', function () {
    if (window.FlowerTheme) {
      window.FlowerTheme.choose(this.getAttribute('data-theme-choice'));
    }
    markTheme();
  });
  markTheme();

  window.Flower = {
    prefix: prefix,
    url: url,
    escape: escape,
    api: api,
    refreshParts: refreshParts,
    swapFragments: swapFragments,
    fetchFragments: fetchFragments,
    toast: toast,
    readOnly: body.getAttribute('data-read-only') === 'true'
  };
}(window, window.jQuery));
