// The memory panel's address field: Go shows a word (a symbol, `table+8` or an address),
// Watch sets a watchpoint there (a run stops after the store that touches it). A word
// picked in the memory panel fills it.

import {esc, hex} from "./format.js";

export function createWatchpoints({form, target, size, list}, {send, onProblem, onGoto}) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = target.value.trim();
    if (!text) return;
    if (!e.submitter || e.submitter.id !== "btn-watch") { onGoto(text); return; }
    const ack = await send("watchpoint", {target: text, size: Number(size.value), on: true});
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
      return `<li><span aria-hidden="true">◉</span> ${hex(w.va)}${name ? " (" + esc(name[0]) + ")" : ""}, ${w.size} B
        <button type="button" data-va="${w.va}" data-changes aria-label="remove watchpoint ${hex(w.va)}">✕</button></li>`;
    }).join("");
  }
  return {render, pick(va) { target.value = hex(va); }};
}
