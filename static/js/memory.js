// Panel 4: a guest page, native and mirror copies side by side (or stacked when they do
// not fit). It follows the story: the page and word that matter after the last step, run,
// injection, recovery or watchpoint stop (spot.js), until the user picks a page or an
// address; words as hex, bytes, ASCII or decimal; "go to" a symbol or an address.

import {copiesOf, copyName, NATIVE} from "./contracts.js";
import {esc, hex, leHex} from "./format.js";
import {pagesOf} from "./state.js";
import {keepUnitsInView} from "./scroll.js";
import {splitCopy, storyInLog, storyOf} from "./spot.js";
import {tableHtml, VIEWS} from "./memview.js";
import {arrowsOwned} from "./controls.js";
import {setHtml} from "./dom.js";

const ZERO = new Uint8Array(4096);
// what the memory box scrolls by: a note above the table, and each word's <tbody>
const UNITS = ":scope > p, :scope > table > tbody";

export function createMemoryPanel({select, viewSelect, writes, view, which},
                                  {onPickWord, onProblem}) {
  let chosen = null;      // {page, word, copy} the user asked for; null: follow the story
  let remembered = null;  // the story's last spot, kept through steps that tell none
  let drawnPosition = -1;
  let lastState = null;
  let lastVm = null;
  let cursor = 0;
  let shown = null;       // the spot drawn last (the page-table walk follows it)

  // bring a word into view, the box's top on a word's first row
  const show = (el) => keepUnitsInView(view, view.querySelectorAll(UNITS), el);

  // the select may be narrower than its text: the whole of it in the tooltip too
  const titleSelect = () => { select.title = select.selectedOptions[0]?.textContent || ""; };
  select.addEventListener("change", () => {
    titleSelect();
    chosen = {page: Number(select.value), word: null, copy: 0};
    redraw();
  });
  viewSelect.addEventListener("change", () => redraw());
  // a redraw of this panel alone (a choice in it): measured, drawn, placed
  function redraw() {
    measure();
    render(lastState, lastVm)?.();
  }
  function goto(text) {
    const va = resolve(lastState, text);
    if (va === null) { onProblem(`'${text}' is neither a symbol of the program nor an address`); return; }
    const at = splitCopy(lastVm, va);
    const page = at.va - (at.va % 4096);
    if (!pagesOf(lastVm).some((p) => p.va === page && p.entry & 2n)) {
      onProblem(`${hex(va)} is not in a writable page of VM ${lastVm.id} (the memory panel shows the program's writable pages)`);
      return;
    }
    chosen = {page, word: at.va - (at.va % 8), copy: at.copy};
    onProblem("");
    redraw();
  }
  view.addEventListener("click", (e) => {
    const el = e.target.closest("[data-va]");
    if (el) onPickWord(Number(el.dataset.va));
  });
  // keyboard: arrows move a cursor over the words, Enter picks one as the target
  view.addEventListener("keydown", (e) => {
    const words = [...view.querySelectorAll("[data-va]")];
    if (!words.length || !arrowsOwned(view)) return;  // clicked there: → steps
    const across = view.querySelector("tbody tr:not(.fold)")?.querySelectorAll("[data-va]").length || 1;
    const move = {ArrowRight: 1, ArrowLeft: -1, ArrowDown: across, ArrowUp: -across}[e.key];
    if (move) {
      cursor = Math.max(0, Math.min(words.length - 1, cursor + move));
    } else if (e.key === "Enter") {
      onPickWord(Number(words[cursor].dataset.va));
    } else {
      return;
    }
    e.preventDefault();
    e.stopPropagation();
    view.querySelector(".cursor")?.classList.remove("cursor");
    words[cursor].classList.add("cursor");
    show(words[cursor]);
  });

  function symbolAt(state, va) {
    // the labels that start inside this word, the word's own first (a narrow panel shows
    // only the start of the list: it breaks before a "·", never after it)
    const names = Object.entries(state.symbols).filter(([, a]) => a >= va && a < va + 8)
      .sort(([, a], [, b]) => a - b);
    return names.length ? names.map(([n, a]) => (a === va ? n : `${n} at +${a - va}`)).join(" ·\u00a0") : null;
  }

  function story(state, vm) {
    if (state.history.position < drawnPosition) remembered = null;  // went back in time
    drawnPosition = state.history.position;
    const now = storyOf(state, vm);
    if (now) remembered = {...now, vm: vm.id};
    if (remembered && remembered.vm !== vm.id) remembered = null;
    return remembered || storyInLog(state, vm);
  }

  function pageOf(state, vm, pages, spot) {
    if (chosen && pages.some((p) => p.va === chosen.page)) return chosen.page;
    chosen = null;
    if (spot && pages.some((p) => p.va === spot.va - (spot.va % 4096))) return spot.va - (spot.va % 4096);
    const data = Object.values(state.symbols).find((a) => pages.some((p) => p.va === a - (a % 4096)));
    return data !== undefined ? data - (data % 4096) : (pages[0] ? pages[0].va : null);
  }

  // the 8-byte word of the native copy a spot is in
  const native = (vm, spot) => spot.va - spot.copy * vm.offset - ((spot.va - spot.copy * vm.offset) % 8);
  function describe(state, vm, spot) {
    const nativeWrites = (vm.lastWrites || []).filter((w) => w.va !== null);
    const head = spot && spot.kind !== "store"
      ? `<span class="spot">▶ ${esc(spot.why)}: ${hex(spot.va)}${spot.copy ? ` (mirror ${spot.copy})` : ""}` +
        `${symbolAt(state, native(vm, spot)) ? " " + esc(symbolAt(state, native(vm, spot))) : ""}</span> `
      : "";
    if (nativeWrites.length) {
      return head + "<b>This step wrote:</b> " + nativeWrites.map((w) =>
        `<span class="wr ${w.copy === NATIVE ? "native" : "mirror"}">${copyName(w.copy)} ${hex(w.va)}
        (${w.size} B, machine ${hex(w.pa)}): ${leHex(w.old)} → ${leHex(w.new)}</span>`).join(" ");
    }
    if (head) return head;
    if (spot) return `<span class="spot">▶ ${esc(spot.why)} (an earlier step): ${hex(spot.va)}</span>`;
    return "<span class='muted'>No store yet.</span>";
  }

  // the box's width and font, read before the page's panels write anything (reading them
  // after would make the browser lay the page out once more on every step)
  let room = {width: 0, charWidth: 0};
  function measure() {
    room = {width: view.clientWidth,
            charWidth: 0.62 * (parseFloat(getComputedStyle(view).fontSize) || 14)};
  }

  // draws the panel; what it returns brings the word into view, called once every panel
  // is drawn (layout is read then, once for all)
  function render(state, vm) {
    if (!state) return null;
    lastState = state;
    lastVm = vm;
    // whose memory: the panel follows the VM the last event happened in (the VM tabs)
    which.textContent = `of VM ${vm.id}, ${vm.name}`;
    const pages = pagesOf(vm).filter((p) => p.entry & 2n);  // writable pages only
    const spot = story(state, vm);
    shown = spot;
    const pageVa = pageOf(state, vm, pages, spot);
    setHtml(select, pages.map((p) => {
      const names = Object.entries(state.symbols).filter(([, a]) => a >= p.va && a < p.va + 4096)
        .map(([n]) => n).slice(0, 2).join(", ");
      return `<option value="${p.va}" ${p.va === pageVa ? "selected" : ""}>${hex(p.va)}${names ? " (" + esc(names) + ")" : ""}</option>`;
    }).join(""));
    titleSelect();
    // the word gone to heads the panel in its place (Go names it, with its label)
    const gone = chosen && chosen.word !== null
      ? {va: chosen.word + chosen.copy * vm.offset, copy: chosen.copy, why: "the word you went to", kind: "goto"}
      : spot;
    setHtml(writes, describe(state, vm, gone));  // a live region: said again only if it changed
    const page = pages.find((p) => p.va === pageVa);
    if (!page) { setHtml(view, "<p class='muted'>No writable page mapped yet.</p>"); return null; }
    const copies = [{name: "native", short: "native", frame: page.frame, base: page.va},
      ...page.mirrors.map((f, k) => ({name: `mirror ${k + 1}, VA +${hex((k + 1) * vm.offset)}`,
                                      short: `mirror ${k + 1}`, frame: f, base: page.va + (k + 1) * vm.offset}))];
    for (const c of copies) c.bytes = state.frames.get(c.frame) || ZERO;
    const flashed = new Set();
    for (const w of vm.lastWrites || []) {
      if (w.va === null) continue;
      const base = w.va - w.copy * vm.offset;
      for (let a = base - (base % 8); a < base + w.size; a += 8) flashed.add(`${w.copy}:${a}`);
    }
    const mark = chosen && chosen.word !== null ? {word: chosen.word, copy: chosen.copy}
      : spot && !flashed.size ? {word: spot.va - (spot.va % 8), copy: spot.copy} : null;
    const kind = viewSelect.value;
    const need = (12 + copies.length * (VIEWS[kind].chars + 2)) * room.charWidth;
    const stacked = copies.length > 1 && room.width > 0 && room.width < need;
    const note = page.mirrors.length ? ""
      : copiesOf(vm.mode) === 0 ? "<p class='muted'>This VM has no mirror.</p>"
        : "<p class='muted'>This page has no mirror copy: no mirror PTE maps it.</p>";
    setHtml(view, note + tableHtml({page, copies, view: kind, flashed, spot: mark, stacked,
                                    symbolAt: (va) => symbolAt(state, va)}));
    // with no word to show the box keeps its place, and a word cut at its top is shown whole
    return () => show(view.querySelector(".spot-word") || view.querySelector(".written"));
  }
  // the word (or page) the user went to, as a guest address of its copy (null: the
  // panel follows the story): a shared link opens there
  const chosenAt = () => !chosen || !lastVm ? null
    : (chosen.word ?? chosen.page) + chosen.copy * lastVm.offset;
  return {measure, render, goto, chosenAt, spot: () => shown};
}

// `total`, `table+8`, `0x900010` -> a guest address (null if none)
export function resolve(state, text) {
  const m = /^([A-Za-z_.$][\w.$]*)\s*(?:([+-])\s*(0x[0-9a-f]+|\d+))?$/i.exec(text);
  if (m && m[1] in state.symbols) {
    const delta = m[3] ? Number(m[3]) : 0;
    return state.symbols[m[1]] + (m[2] === "-" ? -delta : delta);
  }
  if (/^0x[0-9a-f]{1,16}$/i.test(text) || /^\d{1,16}$/.test(text)) {
    const n = Number(BigInt(text));
    return Number.isSafeInteger(n) ? n : null;
  }
  return null;
}
