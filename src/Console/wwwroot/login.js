'use strict';
// Sign-in: POST the key once; the answer sets an HttpOnly session cookie the script never sees.
document.getElementById('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = document.getElementById('login-error');
  error.textContent = '';
  const input = document.getElementById('login-key');
  const response = await fetch('/ui/api/session', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'gateway-console' },
    body: JSON.stringify({ key: input.value }),
    credentials: 'same-origin',
  });
  input.value = '';
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    error.textContent = body.error || ('Sign-in failed (' + response.status + ').');
    return;
  }
  // Only console pages are allowed as the place to go next (no open redirect).
  const next = new URLSearchParams(location.search).get('next');
  location.assign(next && /^\/ui\/[a-z]+$/.test(next) ? next : '/ui/spend');
});
