// Watchpoints: a symbol or address typed (or a word picked in the memory panel); a run
// stops after the store that touches it.

import {esc, hex} from "./format.js";

export function createWatchpoints({form, target, size, list}, {send, onProblem}) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const ack = await send("watchpoint", {target: target.value.trim(), size: Number(size.value),
                                          on: true});
    if (!ack.ok) onProblem(ack.error.message);
  });
  list.addEventListener("click", async (e) => {
    const b = e.target.closest("[data-va]");
    if (!b) return;
    const ack = await send("watchpoint", {target: hex(Number(b.dataset.va)), on: false});
    if (!ack.ok) onProblem(ack.error.message);
  });
  function render(state) {
    list.innerHTML = state.watchpoints.map((w) => {
      const name = Object.entries(state.symbols).find(([, a]) => a === w.va);
      return `<li>${hex(w.va)}${name ? " (" + esc(name[0]) + ")" : ""}, ${w.size} B
        <button type="button" data-va="${w.va}" aria-label="remove watchpoint ${hex(w.va)}">✕</button></li>`;
    }).join("");
  }
  return {render, pick(va) { target.value = hex(va); }};
}
