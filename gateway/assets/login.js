// "Sign in with Ethereum" on the hosted login page (EIP-4361) through the browser's wallet:
// EIP-6963 discovery of announced wallets, else the injected EIP-1193 `window.ethereum`.
// The gateway writes the message (fresh nonce, EIP-55 address, this pool's domain and URI);
// the wallet signs it with personal_sign; the form posts message and signature. Its words
// come from the form's data attributes (the gateway's catalogue, `gateway/src/words.rs`).
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

  const words = form.dataset;
  const say = (text) => { status.textContent = text; };
  const provider = () => (announced.length ? announced[0].provider : window.ethereum);

  // UTF-8 text as 0x-hex, as personal_sign expects it.
  const toHex = (text) => '0x' + Array.from(new TextEncoder().encode(text))
    .map((b) => b.toString(16).padStart(2, '0')).join('');

  button.addEventListener('click', async () => {
    const wallet = provider();
    if (!wallet || typeof wallet.request !== 'function') {
      say(words.noWallet);
      return;
    }
    button.disabled = true;
    try {
      say(words.waiting);
      const accounts = await wallet.request({ method: 'eth_requestAccounts' });
      const address = accounts && accounts[0];
      if (!address) throw new Error(words.noAccount);
      const chainId = parseInt(await wallet.request({ method: 'eth_chainId' }), 16);
      const answer = await fetch(form.dataset.messageUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        credentials: 'same-origin',
        body: JSON.stringify({ address, chain_id: chainId }),
      });
      const body = await answer.json();
      if (!answer.ok) throw new Error(body.detail || words.cannotStart);
      say(words.confirm);
      const signature = await wallet.request({
        method: 'personal_sign', params: [toHex(body.message), address],
      });
      form.elements.message.value = body.message;
      form.elements.signature.value = signature;
      say(words.signingIn);
      form.submit();
    } catch (err) {
      const refused = err && (err.code === 4001 || err.code === 'ACTION_REJECTED');
      say(refused ? words.declined : (err && err.message) || words.failed);
      button.disabled = false;
    }
  });
}());
