/* The embeddable widget: one <script src=".../widget.js" data-title="…" data-accent="#…">
   tag on any site. It draws a launcher button and a chat panel in a shadow root (so the
   host page's styles neither leak in nor out) and talks to the origin it was loaded from
   (or data-api), with a bearer token kept in its own localStorage entry. */
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script || !window.codecite) return;
  var data = script.dataset;
  var api = (data.api || new URL(script.src, location.href).origin).replace(/\/$/, '');
  var host = document.createElement('div');
  host.setAttribute('data-codecite-widget', '');
  document.body.appendChild(host);
  var shadow = host.attachShadow({ mode: 'open' });
  var style = document.createElement('style');
  style.textContent = CODECITE_CSS;
  shadow.appendChild(style);
  var frame = document.createElement('div');
  if (data.accent) frame.style.setProperty('--cc-accent', data.accent);
  if (data.accentInk) frame.style.setProperty('--cc-accent-ink', data.accentInk);
  var launcher = document.createElement('button');
  launcher.type = 'button';
  launcher.className = 'cc-launcher';
  launcher.textContent = data.label || 'Ask a coding question';
  launcher.setAttribute('aria-expanded', 'false');
  var panel = document.createElement('div');
  panel.className = 'cc-panel';
  panel.hidden = true;
  panel.setAttribute('role', 'dialog');
  panel.setAttribute('aria-label', data.title || 'codecite');
  frame.appendChild(panel);
  frame.appendChild(launcher);
  shadow.appendChild(frame);
  var chat = null;
  function toggle(open) {
    panel.hidden = !open;
    launcher.setAttribute('aria-expanded', open ? 'true' : 'false');
    if (open && !chat) chat = window.codecite.mountChat(panel, { api: api, mode: 'token', title: data.title || 'codecite' });
    if (open) panel.querySelector('textarea').focus();
  }
  launcher.addEventListener('click', function () { toggle(panel.hidden); });
  panel.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') { toggle(false); launcher.focus(); }
  });
  if (data.open === 'true') toggle(true);
})();
