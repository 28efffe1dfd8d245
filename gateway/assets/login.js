// "Sign in with Ethereum" on the hosted login page (EIP-4361) through the browser's wallet:
// EIP-6963 discovery of announced wallets, else the injected EIP-1193 `window.ethereum`.
// The gateway writes the message (fresh nonce, EIP-55 address, this pool's domain and URI);
// the wallet signs it with personal_sign; the form posts message and signature.
'use strict';
(function () {
  const form = document.getElementById('siwe-form');
  const button = document.getElementById('siwe');
  const status = document.getElementById('siwe-status');
  if (!form || !button) return;

  // EIP-6963: wallets announce themselves in answer to a request event.
  const announced = [];
  window.addEventListener('eip6963:announceProvider', (event) => {
    const detail = event.detail;
    if (detail && detail.provider && !announced.some((d) => d.provider === detail.provider)) {
      announced.push(detail);
    }
  });
  window.dispatchEvent(new Event('eip6963:requestProvider'));

  const say = (text) => { status.textContent = text; };
  const provider = () => (announced.length ? announced[0].provider : window.ethereum);

  // UTF-8 text as 0x-hex, as personal_sign expects it.
  const toHex = (text) => '0x' + Array.from(new TextEncoder().encode(text))
    .map((b) => b.toString(16).padStart(2, '0')).join('');

  button.addEventListener('click', async () => {
    const wallet = provider();
    if (!wallet || typeof wallet.request !== 'function') {
      say('No Ethereum wallet was found in this browser. Install or unlock one, then try again.');
      return;
    }
    button.disabled = true;
    try {
      say('Waiting for your wallet…');
      const accounts = await wallet.request({ method: 'eth_requestAccounts' });
      const address = accounts && accounts[0];
      if (!address) throw new Error('Your wallet shared no account.');
      const chainId = parseInt(await wallet.request({ method: 'eth_chainId' }), 16);
      const answer = await fetch(form.dataset.messageUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        credentials: 'same-origin',
        body: JSON.stringify({ address, chain_id: chainId }),
      });
      const body = await answer.json();
      if (!answer.ok) throw new Error(body.detail || 'The sign-in could not start. Try again.');
      say('Confirm the sign-in in your wallet…');
      const signature = await wallet.request({
        method: 'personal_sign', params: [toHex(body.message), address],
      });
      form.elements.message.value = body.message;
      form.elements.signature.value = signature;
      say('Signing you in…');
      form.submit();
    } catch (err) {
      const refused = err && (err.code === 4001 || err.code === 'ACTION_REJECTED');
      say(refused ? 'You declined the request in your wallet. Nothing was signed.'
        : (err && err.message) || 'The wallet sign-in failed. Try again.');
      button.disabled = false;
    }
  });
}());
