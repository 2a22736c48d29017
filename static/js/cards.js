// The explanation card shown to everyone when an error is injected: what it models,
// what ECC does, what the hypervisor does, and what would happen without a mirror. It is
// placed on the side away from the console and event log (where the recovery or the
// kill appears), takes the focus so that one Tab reaches its Close (the keys still step),
// and goes away with Esc, Close, the next step or another lesson step.

import {esc} from "./format.js";

export function createCards(root, cards, {avoid}) {
  let returnTo = null;
  function hide() {
    if (root.hidden) return;
    const hadFocus = root.contains(document.activeElement);
    root.hidden = true;
    if (hadFocus && returnTo && returnTo.isConnected) returnTo.focus({preventScroll: true});
    returnTo = null;
  }
  root.addEventListener("click", (e) => {
    if (e.target.closest("button")) hide();
  });
  function place() {
    // the half of the screen the log is not in
    const r = avoid().getBoundingClientRect();
    const logOnRight = r.left + r.width / 2 > innerWidth / 2;
    const width = Math.min(440, innerWidth * 0.4);
    root.style.setProperty("--card-left", logOnRight ? "16px" : `${innerWidth - width - 16}px`);
  }
  return {
    show(kind) {
      const c = cards[kind];
      if (!c) return;
      root.innerHTML = `<h2 id="card-title">${esc(c.title)}</h2><dl>
        <dt>What it models</dt><dd>${esc(c.models)}</dd>
        <dt>What ECC does</dt><dd>${esc(c.ecc)}</dd>
        <dt>What kMemvisor does</dt><dd>${esc(c.hypervisor)}</dd>
        <dt>Without a mirror</dt><dd>${esc(c.without)}</dd></dl>
        <p class="card-bar"><button type="button">Close</button>
        <span class="muted small">Esc or the next step closes it</span></p>`;
      root.dataset.kind = kind;
      place();
      if (root.hidden) returnTo = document.activeElement;
      root.hidden = false;
      const typing = document.activeElement && document.activeElement.closest("textarea, input");
      if (!typing) root.focus({preventScroll: true});
    },
    hide,
    get open() { return !root.hidden; },
  };
}
