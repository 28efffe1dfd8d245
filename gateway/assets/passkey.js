// Passkeys on the hosted pages (WebAuthn Level 3's JSON forms): "Sign in with a passkey" on
// the login page, and "Use a passkey" answering the second-factor challenge. The gateway's
// API gives the options (`/v1/sessions/passkey/options`, with the challenge's `session` on
// the challenge page); the browser asks the authenticator (user verification required);
// the form posts the credential's JSON. Words come from the form's data attributes.
'use strict';
(function () {
  const form = document.getElementById('passkey-form');
  const button = document.getElementById('passkey');
  const status = document.getElementById('passkey-status');
  if (!form || !button) return;
  const words = form.dataset;
  const say = (text) => { if (status) status.textContent = text; };
  const supported = window.PublicKeyCredential
    && typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function';

  button.addEventListener('click', async () => {
    if (!supported) {
      say(words.unsupported);
      return;
    }
    button.disabled = true;
    try {
      const body = words.session ? { session: words.session } : {};
      const res = await fetch(words.optionsUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`options: ${res.status}`);
      const options = await res.json();
      say(words.waiting);
      const credential = await navigator.credentials.get({
        publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey),
      });
      form.elements[words.field].value = JSON.stringify(credential.toJSON());
      if (options.handle && form.elements.handle) form.elements.handle.value = options.handle;
      form.submit();
    } catch (e) {
      say(e && e.name === 'NotAllowedError' ? words.declined : words.failed);
      button.disabled = false;
    }
  });
})();
