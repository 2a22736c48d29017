// The explanation card shown to everyone when an error is injected: what it models,
// what ECC does, what the hypervisor does, and what would happen without a mirror.

import {esc} from "./format.js";

export function createCards(root, cards) {
  root.addEventListener("click", (e) => {
    if (e.target.closest("button")) root.hidden = true;
  });
  return {
    show(kind) {
      const c = cards[kind];
      if (!c) return;
      root.innerHTML = `<h3>${esc(c.title)}</h3><dl>
        <dt>What it models</dt><dd>${esc(c.models)}</dd>
        <dt>What ECC does</dt><dd>${esc(c.ecc)}</dd>
        <dt>What kMemvisor does</dt><dd>${esc(c.hypervisor)}</dd>
        <dt>Without a mirror</dt><dd>${esc(c.without)}</dd></dl>
        <button type="button">Close</button>`;
      root.dataset.kind = kind;
      root.hidden = false;
    },
  };
}
