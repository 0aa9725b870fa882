/* The chat page: mounts the chat on #chat with the session cookie. `?q=` asks at once,
   `?code=` makes the questions about that code (the code pages' ask box), `?register=1`
   opens the registration form. */
(function () {
  'use strict';
  var root = document.getElementById('chat');
  if (!root || !window.codecite) return;
  var params = new URLSearchParams(location.search);
  var chat = window.codecite.mountChat(root, {
    api: '',
    mode: 'cookie',
    title: root.getAttribute('data-title') || 'Coding assistant',
    question: params.get('q') || '',
    codeContext: params.get('code') || ''
  });
  if (params.get('register')) chat.register();
})();
