/* codecite chat client: the one implementation behind the chat page at / and the
   embeddable widget. It streams POST /api/chat with fetch (EventSource cannot POST), turns
   cited codes into links to their code pages, marks unverified ones, shows the quota, and
   on a 402 offers registration (guests) or an upgrade, then carries on the conversation.

   Credentials: on the page, the HttpOnly session cookie (same origin); in the widget, a
   bearer token kept in the widget's own localStorage entry, since third-party cookies are
   blocked in current browsers. */
(function (global) {
  'use strict';

  var EXAMPLES = ['What is CPT code 99213?', 'Guidelines for E/M services', 'When is modifier 25 needed?', 'ICD-10-CM code for type 2 diabetes without complications'];

  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'hidden') node.hidden = !!attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  function escapeRegExp(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }

  /* The client side of the API: credentials, JSON calls and the SSE stream. */
  function Api(base, mode) {
    this.base = base.replace(/\/$/, '');
    this.mode = mode;
    this.key = 'codecite.token:' + (this.base || location.origin);
  }
  Api.prototype.token = function () {
    if (this.mode !== 'token') return null;
    try { return localStorage.getItem(this.key); } catch (e) { return this.memory || null; }
  };
  Api.prototype.keep = function (body) {
    if (this.mode !== 'token' || !body || !body.token) return;
    this.memory = body.token;
    try { localStorage.setItem(this.key, body.token); } catch (e) { /* private mode: keep it in memory */ }
  };
  Api.prototype.call = function (method, path, body, extra) {
    var headers = Object.assign({}, extra && extra.headers);
    var token = this.token();
    if (token) headers.Authorization = 'Bearer ' + token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    return fetch(this.base + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: this.mode === 'cookie' ? 'same-origin' : 'omit',
      signal: extra && extra.signal
    });
  };
  Api.prototype.forget = function () {
    this.memory = null;
    if (this.mode !== 'token') return;
    try { localStorage.removeItem(this.key); } catch (e) { /* nothing kept */ }
  };
  Api.prototype.json = function (method, path, body) {
    return this.call(method, path, body).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return { status: r.status, ok: r.ok, data: data }; });
    });
  };
  /* The caller's account, making a guest when there are no (valid) credentials. */
  Api.prototype.me = function () {
    var api = this;
    return api.json('GET', '/api/me').then(function (r) {
      if (r.status !== 401) return r;
      return api.json('POST', '/api/guest').then(function (g) {
        if (!g.ok) return g;
        api.keep(g.data);
        return api.json('GET', '/api/me');
      });
    });
  };

  /* Server-Sent Events from a fetch response body. */
  function readEvents(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = '';
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) return;
        buffer += decoder.decode(chunk.value, { stream: true });
        var end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          var block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          var name = 'message', data = '';
          block.split('\n').forEach(function (line) {
            if (line.indexOf('event:') === 0) name = line.slice(6).trim();
            else if (line.indexOf('data:') === 0) data += line.slice(5).replace(/^ /, '');
          });
          if (data) onEvent(name, JSON.parse(data));
        }
        return pump();
      });
    }
    return pump();
  }

  /* Answer text as HTML: paragraphs, **bold**, [n] source markers, and each cited code a
     link to its code page (verified) or a struck-through mark (unverified). */
  function renderAnswer(text, citations, codeUrl) {
    var html = escapeHtml(text);
    var codes = Object.keys(citations).sort(function (a, b) { return b.length - a.length; });
    if (codes.length) {
      var pattern = new RegExp('(^|[^A-Za-z0-9.])(' + codes.map(escapeRegExp).join('|') + ')(?![A-Za-z0-9])', 'g');
      html = html.replace(pattern, function (all, before, code) {
        var c = citations[code];
        if (c.verified) {
          var link = '<a class="cc-code" href="' + escapeHtml(codeUrl(code)) + '" target="' + (codeUrl.external ? '_blank' : '_self') + '" rel="noopener">' + code + '</a>';
          if (c.billable === false) {
            var more = (c.billable_codes || []).length ? ': use one of ' + c.billable_codes.join(', ') : '';
            link += '<span class="cc-nonbillable" title="Not billable as it stands' + escapeHtml(more) + '"> (not billable' + escapeHtml(more) + ')</span>';
          }
          return before + link;
        }
        return before + '<span class="cc-code cc-unverified" title="Not found in codecite\'s code tables">' + code +
          '<span class="cc-sr"> (unverified code)</span></span>';
      });
    }
    html = html.replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>');
    html = html.replace(/\[(\d{1,2})\]/g, '<span class="cc-marker">[$1]</span>');
    return html.split(/\n{2,}/).map(function (p) { return '<p>' + p.replace(/\n/g, '<br>') + '</p>'; }).join('');
  }

  var counter = 0;

  /* Builds the chat into `root`. Options: api (origin, '' for this one), mode ('cookie' |
     'token'), title, question (to ask at once), codeContext (a code the questions are about). */
  function mountChat(root, options) {
    var opts = Object.assign({ api: '', mode: 'cookie', title: 'Coding assistant' }, options || {});
    var api = new Api(opts.api, opts.mode);
    var id = 'cc' + (++counter);
    var codeUrl = function (code) { return api.base + '/codes/' + encodeURIComponent(code); };
    codeUrl.external = !!api.base && api.base !== location.origin;
    var state = { conversation: null, busy: null, pending: null, me: null };

    var quota = h('span', { 'class': 'cc-quota', 'aria-live': 'polite' });
    var newButton = h('button', { type: 'button', 'class': 'secondary', text: 'New conversation' });
    var account = h('button', { type: 'button', 'class': 'secondary', text: 'Sign in' });
    var bar = h('div', { 'class': 'cc-bar' }, [h('span', { 'class': 'cc-title', text: opts.title }), quota, h('div', { 'class': 'cc-tools' }, [newButton, account])]);
    var historyList = h('ul', { 'class': 'plain' });
    var history = h('details', { 'class': 'cc-history', hidden: true }, [h('summary', { text: 'Your conversations' }), historyList]);
    var log = h('ol', { 'class': 'cc-log', 'aria-live': 'polite', 'aria-label': 'Conversation' });
    var examples = h('div', { 'class': 'cc-examples', role: 'group', 'aria-label': 'Example questions' });
    EXAMPLES.forEach(function (q) {
      var b = h('button', { type: 'button', text: q });
      b.addEventListener('click', function () { ask(q); });
      examples.appendChild(b);
    });
    var scroll = h('div', { 'class': 'cc-scroll' }, [history, log, examples]);
    var paywall = h('div', { 'class': 'cc-paywall', hidden: true, role: 'region', 'aria-label': 'Quota', tabindex: '-1' });
    var question = h('textarea', { id: id + '-q', rows: '2', maxlength: '2000', placeholder: 'Ask about a code, a modifier, a guideline…' });
    var send = h('button', { type: 'submit', text: 'Ask' });
    var stop = h('button', { type: 'button', 'class': 'secondary', text: 'Stop', hidden: true });
    var form = h('form', { 'class': 'cc-form' }, [
      h('label', { 'class': 'cc-sr', 'for': id + '-q', text: 'Your coding question' }),
      question,
      h('div', { 'class': 'cc-buttons' }, [send, stop])
    ]);
    var chat = h('div', { 'class': 'cc-chat' }, [bar, scroll, paywall, form]);
    root.appendChild(chat);

    function showQuota(remaining) {
      if (remaining === null || remaining === undefined) { quota.textContent = ''; return; }
      quota.textContent = remaining === 1 ? '1 question left' : remaining + ' questions left';
      quota.className = 'cc-quota' + (remaining <= 1 ? ' cc-low' : '');
    }

    function refresh() {
      return api.me().then(function (r) {
        if (!r.ok) { quota.textContent = ''; return; }
        state.me = r.data;
        showQuota(r.data.remaining && r.data.remaining.questions);
        account.textContent = r.data.account.guest ? 'Sign in' : 'Sign out';
        if (!r.data.account.guest) loadHistory();
      });
    }

    function loadHistory() {
      api.json('GET', '/api/conversations').then(function (r) {
        if (!r.ok) return;
        historyList.textContent = '';
        r.data.conversations.forEach(function (c) {
          var b = h('button', { type: 'button', text: c.title || 'Untitled conversation' });
          b.addEventListener('click', function () { openConversation(c.id); });
          historyList.appendChild(h('li', {}, [b]));
        });
        history.hidden = r.data.conversations.length === 0;
      });
    }

    function openConversation(cid) {
      api.json('GET', '/api/conversations/' + encodeURIComponent(cid)).then(function (r) {
        if (!r.ok) return;
        log.textContent = '';
        examples.hidden = true;
        state.conversation = cid;
        r.data.messages.forEach(function (m) {
          var turn = addTurn(m.question);
          // A stored turn keeps which codes it cited, not which were verified: shown as text.
          turn.answer.innerHTML = renderAnswer(m.answer, {}, codeUrl);
          turn.answer.removeAttribute('aria-busy');
        });
      });
    }

    function addTurn(text) {
      var answer = h('div', { 'class': 'cc-a', 'aria-busy': 'true' });
      var status = h('div', { 'class': 'cc-status', role: 'status' });
      var sources = h('details', { 'class': 'cc-sources', hidden: true }, [h('summary', { text: 'Sources' }), h('ol')]);
      var li = h('li', { 'class': 'cc-turn' }, [h('div', { 'class': 'cc-q', text: text }), answer, sources, status]);
      log.appendChild(li);
      return { li: li, answer: answer, status: status, sources: sources };
    }

    function setBusy(controller) {
      state.busy = controller;
      send.disabled = !!controller;
      stop.hidden = !controller;
      question.setAttribute('aria-busy', controller ? 'true' : 'false');
    }

    function showSources(turn, list) {
      var ol = turn.sources.querySelector('ol');
      ol.textContent = '';
      list.forEach(function (s) {
        var label = (s.code ? s.code + ' — ' : '') + s.title;
        var item = s.code ? h('a', { href: codeUrl(s.code), target: codeUrl.external ? '_blank' : '_self', rel: 'noopener', text: label }) : h('span', { text: label });
        ol.appendChild(h('li', { value: String(s.n) }, [item]));
      });
      turn.sources.hidden = list.length === 0;
    }

    /* The register or sign-in form, in the paywall region; `intro` says why it is there. */
    function accountForm(kind, intro) {
      var login = kind === 'login';
      paywall.textContent = '';
      paywall.hidden = false;
      if (intro) paywall.appendChild(h('p', { text: intro }));
      var email = h('input', { type: 'email', id: id + '-email', autocomplete: 'email', required: 'required' });
      var password = h('input', { type: 'password', id: id + '-password', autocomplete: login ? 'current-password' : 'new-password', minlength: login ? '1' : '8', required: 'required' });
      var problem = h('p', { 'class': 'cc-error', role: 'alert' });
      var submit = h('button', { type: 'submit', text: login ? 'Sign in' : 'Register and continue' });
      var other = h('button', { type: 'button', 'class': 'secondary', text: login ? 'New here? Register' : 'Already registered? Sign in' });
      var form = h('form', { 'aria-label': login ? 'Sign in' : 'Register a free account' }, [
        h('label', { 'for': id + '-email' }, [document.createTextNode('Email'), email]),
        h('label', { 'for': id + '-password' }, [document.createTextNode(login ? 'Password' : 'Password (8 or more characters)'), password]),
        submit, other, problem
      ]);
      other.addEventListener('click', function () { accountForm(login ? 'register' : 'login', intro); });
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        submit.disabled = true;
        api.json('POST', login ? '/api/login' : '/api/register', { email: email.value, password: password.value }).then(function (r) {
          submit.disabled = false;
          if (!r.ok) { problem.textContent = (r.data.error && r.data.error.message) || 'That did not work.'; return; }
          api.keep(r.data);
          paywall.hidden = true;
          // Registering keeps the guest's account and conversation; signing in is another
          // account, so a new conversation starts.
          if (login) state.conversation = null;
          state.ready = refresh();
          state.ready.then(function () {
            var again = state.pending;
            state.pending = null;
            if (again) ask(again, true);
          });
        });
      });
      paywall.appendChild(form);
      email.focus();
    }

    function paywallFor(error) {
      if (error.action === 'register') {
        accountForm('register', error.message);
        return;
      }
      paywall.textContent = '';
      paywall.hidden = false;
      paywall.appendChild(h('p', { text: error.message }));
      var when = error.resets_at ? ' Your questions renew on ' + new Date(error.resets_at).toLocaleDateString() + '.' : '';
      paywall.appendChild(h('p', { text: 'Upgrade your plan for more questions.' + when }));
      paywall.focus();
    }

    function signOut() {
      api.call('POST', '/api/logout').then(function () {
        api.forget();
        state.conversation = null;
        log.textContent = '';
        history.hidden = true;
        examples.hidden = false;
        state.ready = refresh();
      });
    }

    function ask(text, retry) {
      text = (text || '').trim();
      if (!text || state.busy) return;
      if (opts.codeContext && text.toUpperCase().indexOf(opts.codeContext.toUpperCase()) < 0) {
        text = 'About ' + opts.codeContext + ': ' + text;
      }
      examples.hidden = true;
      paywall.hidden = true;
      var turn = retry && state.lastTurn && state.lastTurn.failed ? state.lastTurn : addTurn(text);
      turn.failed = false;
      turn.answer.textContent = '';
      turn.status.textContent = 'Searching the code tables…';
      turn.status.className = 'cc-status';
      state.lastTurn = turn;
      var controller = new AbortController();
      setBusy(controller);
      var body = { question: text };
      if (state.conversation) body.conversation_id = state.conversation;
      var answer = '', citations = {}, ended = false;
      function paint() { turn.answer.innerHTML = renderAnswer(answer, citations, codeUrl); }
      // Credentials first: a question typed before the guest session exists waits for it.
      state.ready.then(function () {
        return api.call('POST', '/api/chat', body, { signal: controller.signal });
      }).then(function (response) {
        if (response.status === 402 || response.status === 401 || !response.ok) {
          return response.json().catch(function () { return {}; }).then(function (data) {
            var error = data.error || { message: 'The request failed (' + response.status + ').' };
            turn.failed = true;
            turn.answer.removeAttribute('aria-busy');
            if (response.status === 402) {
              turn.status.textContent = '';
              turn.answer.textContent = 'Quota used up: see below.';
              state.pending = text;
              paywallFor(error);
              showQuota(0);
            } else if (response.status === 401 && !retry) {
              // The session expired or was ended elsewhere: start a new one and ask again.
              state.ready = refresh();
              state.retryText = text;
            } else {
              turn.status.textContent = error.message;
              turn.status.className = 'cc-status cc-error';
            }
          });
        }
        return readEvents(response, function (name, data) {
          if (name === 'meta') {
            state.conversation = data.conversation_id;
            showQuota(data.remaining);
          } else if (name === 'sources') {
            turn.status.textContent = 'Writing the answer…';
            showSources(turn, data);
          } else if (name === 'delta') {
            answer += data.text;
            paint();
          } else if (name === 'citation') {
            citations[data.code] = data;
            paint();
          } else if (name === 'done') {
            ended = true;
            showQuota(data.remaining);
            var unverified = data.unverified_codes.length;
            turn.status.textContent = unverified ? unverified + ' code(s) in this answer are not in the code tables and are marked.' : '';
          } else if (name === 'error') {
            ended = true;
            turn.status.textContent = data.message;
            turn.status.className = 'cc-status cc-error';
          }
        }).then(function () {
          if (!ended) { turn.status.textContent = 'The answer was cut off.'; turn.status.className = 'cc-status cc-error'; }
        });
      }).catch(function (e) {
        if (e && e.name === 'AbortError') {
          turn.status.textContent = 'Stopped.';
        } else {
          turn.status.textContent = 'Could not reach codecite. Check the connection and try again.';
          turn.status.className = 'cc-status cc-error';
        }
      }).then(function () {
        turn.answer.removeAttribute('aria-busy');
        setBusy(null);
        if (state.retryText) {
          var again = state.retryText;
          state.retryText = null;
          return ask(again, true);
        }
        if (state.me && !state.me.account.guest) loadHistory();
      });
    }

    form.addEventListener('submit', function (e) {
      e.preventDefault();
      // One answer at a time: the question stays in the box until the current one ends.
      if (state.busy) return;
      var text = question.value;
      question.value = '';
      ask(text);
    });
    question.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
    });
    stop.addEventListener('click', function () { if (state.busy) state.busy.abort(); });
    account.addEventListener('click', function () {
      if (state.me && !state.me.account.guest) signOut();
      else accountForm('login', 'Sign in to see your conversations and use your plan.');
    });
    newButton.addEventListener('click', function () {
      if (state.busy) state.busy.abort();
      state.conversation = null;
      log.textContent = '';
      examples.hidden = false;
      question.focus();
    });

    state.ready = refresh().catch(function () { quota.textContent = 'codecite is not reachable.'; });
    if (opts.question) ask(opts.question);
    function register() {
      accountForm('register', 'Register a free account to get more questions and code page views each month.');
    }

    return { ask: ask, register: register, element: chat, api: api };
  }

  global.codecite = { mountChat: mountChat, renderAnswer: renderAnswer };
})(typeof window !== 'undefined' ? window : this);
