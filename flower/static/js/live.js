/* The live-update channel (docs/live-updates.md): one WebSocket per page to <prefix>/live, same origin (so a
 * Content-Security-Policy of connect-src 'self' allows it), authenticated like the page itself.
 *
 * A page opens it with FlowerLive.open({watch, onUpdate, onStatus, poll}) and says what it shows with
 * watch({page: ...}); the server answers with updates for the latest watch at most twice a second, and onUpdate
 * gets their data: for the dashboards, {fragments: {element id: HTML}} that the page swaps in with
 * Flower.swapFragments (server-rendered by the same modules as the page itself), for the tasks table its rows.
 * While the channel is not open, the page's own polling (poll.start()/poll.stop()) runs instead, so a page never
 * polls while it is live. The channel reconnects with back-off (1 s doubling to 30 s, with jitter) whatever
 * closed it: a refused handshake (a proxy that blocks WebSockets, an expired login), a restart, a dropped
 * connection. The indicator (#live-status) says which it is: Live, Reconnecting…, Polling, or Not live on pages
 * with nothing to poll.
 *
 * Messages are JSON, parsed, never evaluated; fragments are parsed inert and carry no script. */
(function (window) {
  'use strict';

  var Flower = window.Flower;
  var MIN_DELAY = 1000;          // ms before the first reconnection attempt
  var MAX_DELAY = 30000;         // back-off cap
  var STABLE_AFTER = 5000;       // a connection open this long resets the back-off
  var CONNECT_TIMEOUT = 5000;    // a handshake a proxy holds without answering counts as refused

  function channelUrl() {
    var scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    return scheme + '//' + window.location.host + Flower.url('/live');
  }

  function indicate(state, text) {
    var el = document.getElementById('live-status');
    if (!el) {
      return;
    }
    el.hidden = false;
    el.setAttribute('data-state', state);
    var label = el.querySelector('.live-text');
    if (label) {
      label.textContent = text;
    }
  }

  /* options.watch: what the page shows first ({page: 'tasks', ...}) or null; options.onUpdate(data, view);
   * options.onStatus(state) after the indicator changed (a page may say something more pressing there);
   * options.poll: {start(), stop(), text} when the page has polling to fall back to. */
  function open(options) {
    var socket = null;
    var live = false;
    var seq = 0;
    var current = options.watch || null;
    var delay = MIN_DELAY;
    var openedAt = 0;
    var connectTimer = null;
    var polling = false;
    var poll = options.poll || null;

    function startPolling() {
      if (poll && !polling) {
        polling = true;
        poll.start();
      }
    }

    function stopPolling() {
      if (poll && polling) {
        polling = false;
        poll.stop();
      }
    }

    function status(state) {
      if (options.onStatus) {
        options.onStatus(state);
      }
    }

    function send() {
      if (!live || !socket) {
        return;
      }
      var message = { type: 'watch', seq: seq, page: null };
      if (current) {
        Object.keys(current).forEach(function (key) { message[key] = current[key]; });
      }
      socket.send(JSON.stringify(message));
    }

    function connect() {
      var ws;
      try {
        ws = new window.WebSocket(channelUrl());
      } catch (e) {  // the browser refuses the URL (e.g. a policy): poll
        closed(null);
        return;
      }
      socket = ws;
      connectTimer = window.setTimeout(function () { ws.close(); }, CONNECT_TIMEOUT);
      ws.onopen = function () {
        window.clearTimeout(connectTimer);
        live = true;
        openedAt = Date.now();
        stopPolling();
        indicate('live', 'Live');
        status('live');
        send();
      };
      ws.onmessage = function (event) {
        var message;
        try {
          message = JSON.parse(event.data);
        } catch (e) {
          return;
        }
        // updates for an earlier watch (the page has moved on since) are dropped
        if (message && message.type === 'update' && message.seq === seq && options.onUpdate) {
          options.onUpdate(message.data || {}, message.view);
        }
      };
      ws.onclose = function () { closed(ws); };  // an error is always followed by close
    }

    function closed(ws) {
      if (ws !== socket) {
        return;
      }
      window.clearTimeout(connectTimer);
      var wasLive = live;
      live = false;
      socket = null;
      if (wasLive && Date.now() - openedAt >= STABLE_AFTER) {
        delay = MIN_DELAY;
      }
      startPolling();
      if (wasLive) {
        indicate('reconnecting', 'Reconnecting…');
      } else if (poll) {
        indicate('polling', poll.text || 'Polling');
      } else {
        indicate('offline', 'Not live: reload for updates');
      }
      status(wasLive ? 'reconnecting' : 'closed');
      var wait = delay * (0.8 + Math.random() * 0.4);
      delay = Math.min(delay * 2, MAX_DELAY);
      window.setTimeout(connect, wait);
    }

    indicate('connecting', 'Connecting…');
    connect();

    return {
      /* Show `spec` from now on ({page: ..., ...}, or null for nothing); updates for earlier ones are ignored. */
      watch: function (spec) {
        seq += 1;
        current = spec || null;
        send();
      },
      isLive: function () { return live; }
    };
  }

  window.FlowerLive = { open: open };
}(window));
