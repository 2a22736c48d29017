// Panel 4: hex view of a guest page, native and mirror copies side by side. This step's
// writes flash with old → new; a word whose copies differ is marked ≠ in red.

import {byteHex, esc, hex, leHex} from "./format.js";
import {pagesOf} from "./state.js";

const ZERO = new Uint8Array(4096);

function word(bytes, at) {
  let s = "";
  for (let i = 7; i >= 0; i--) s += byteHex(bytes[at + i]);
  return s;
}

export function createMemoryPanel({select, writes, view}, {onPickWord}) {
  let chosen = null;      // page va the user picked
  let follow = true;      // follow the last write until the user picks a page

  select.addEventListener("change", () => {
    chosen = Number(select.value);
    follow = false;
    render(lastState, lastVm);
  });
  view.addEventListener("click", (e) => {
    const el = e.target.closest("[data-va]");
    if (el) onPickWord(Number(el.dataset.va));
  });
  // keyboard: arrows move a cursor over the words, Enter picks one as the target
  let cursor = 0;
  view.addEventListener("keydown", (e) => {
    const words = [...view.querySelectorAll("[data-va]")];
    if (!words.length) return;
    const across = view.querySelector("tr:not(.fold) [data-va]")?.closest("tr")
      .querySelectorAll("[data-va]").length || 1;
    const move = {ArrowRight: 1, ArrowLeft: -1, ArrowDown: across, ArrowUp: -across}[e.key];
    if (move) {
      e.preventDefault();
      e.stopPropagation();
      cursor = Math.max(0, Math.min(words.length - 1, cursor + move));
    } else if (e.key === "Enter") {
      e.preventDefault();
      e.stopPropagation();
      onPickWord(Number(words[cursor].dataset.va));
    } else {
      return;
    }
    view.querySelector(".cursor")?.classList.remove("cursor");
    words[cursor].classList.add("cursor");
    words[cursor].scrollIntoView({block: "nearest"});
  });

  let lastState = null;
  let lastVm = null;

  function symbolAt(state, va) {
    // the labels that start inside this word
    const names = Object.entries(state.symbols).filter(([, a]) => a >= va && a < va + 8);
    return names.length ? names.map(([n, a]) => (a === va ? n : `${n} at +${a - va}`)).join(" · ") : null;
  }

  function render(state, vm) {
    lastState = state;
    lastVm = vm;
    const pages = pagesOf(vm).filter((p) => p.entry & 2n);  // writable pages only
    const nativeWrites = (vm.lastWrites || []).filter((w) => w.va !== null);
    const lastNative = nativeWrites.find((w) => w.copy === "native");
    if (follow && lastNative) chosen = lastNative.va - (lastNative.va % 4096);
    if (chosen === null || !pages.some((p) => p.va === chosen)) {
      const data = Object.values(state.symbols).find((a) => pages.some((p) => p.va === a - (a % 4096)));
      chosen = data !== undefined ? data - (data % 4096) : (pages[0] ? pages[0].va : null);
    }
    select.innerHTML = pages.map((p) => {
      const names = Object.entries(state.symbols).filter(([, a]) => a >= p.va && a < p.va + 4096)
        .map(([n]) => n).slice(0, 3).join(", ");
      return `<option value="${p.va}" ${p.va === chosen ? "selected" : ""}>${hex(p.va)}${names ? " (" + esc(names) + ")" : ""}</option>`;
    }).join("");
    writes.innerHTML = nativeWrites.length ? "<b>This step wrote:</b> " + nativeWrites.map((w) =>
      `<span class="wr ${w.copy === "native" ? "native" : "mirror"}">${esc(w.copy)} ${hex(w.va)}
      (${w.size} B, machine ${hex(w.pa)}): ${leHex(w.old)} → ${leHex(w.new)}</span>`).join(" ")
      : "<span class='muted'>No store in the last step.</span>";
    const page = pages.find((p) => p.va === chosen);
    if (!page) { view.innerHTML = "<p class='muted'>No writable page mapped yet.</p>"; return; }
    const copies = [state.frames.get(page.frame) || ZERO,
                    ...page.mirrors.map((f) => state.frames.get(f) || ZERO)];
    const flashed = new Set();
    for (const w of vm.lastWrites || []) {
      if (w.va === null) continue;
      const k = w.copy === "native" ? 0 : Number(w.copy.split(" ")[1]);
      const base = w.va - k * vm.offset;
      for (let a = base - (base % 8); a < base + w.size; a += 8) flashed.add(`${k}:${a}`);
    }
    const head = `<tr><th>address</th><th>native (frame ${hex(page.frame)})</th>` +
      page.mirrors.map((f, k) => `<th>mirror ${k + 1} (frame ${hex(f)}, VA +${hex((k + 1) * vm.offset)})</th>`).join("") +
      (page.mirrors.length ? "" : "<th class='muted'>no mirror</th>") + "</tr>";
    const rows = [];
    let diverged = 0;
    let zeros = 0;   // a run of all-zero words folds into one row
    const fold = () => {
      if (zeros > 3) rows.push(`<tr class="fold"><th></th><td colspan="${copies.length}">… ${zeros} zero words …</td></tr>`);
      else rows.push(...pending);
      zeros = 0;
      pending.length = 0;
    };
    const pending = [];
    for (let off = 0; off < 4096; off += 8) {
      const va = page.va + off;
      const words = copies.map((bytes) => word(bytes, off));
      const differs = words.some((w) => w !== words[0]);
      if (differs) diverged++;
      const written = copies.some((_, k) => flashed.has(`${k}:${va}`));
      const label = symbolAt(state, va);
      const cells = words.map((w, k) => {
        const cls = ["w", flashed.has(`${k}:${va}`) ? "written" : "", differs ? "differs" : ""].join(" ");
        const at = va + k * vm.offset;
        return `<td><span class="${cls}" data-va="${at}" title="${hex(at)}">${differs ? "≠ " : ""}${w}</span></td>`;
      }).join("");
      const row = `<tr${differs ? " class='diverged'" : ""}><th>${hex(va)}${label ? ` <span class="sym">${esc(label)}</span>` : ""}</th>${cells}${page.mirrors.length ? "" : "<td></td>"}</tr>`;
      if (!differs && !written && !label && words.every((w) => w === "0000000000000000")) {
        zeros++;
        pending.push(row);
        continue;
      }
      fold();
      rows.push(row);
    }
    fold();
    const alarm = diverged ? `<p class="divergence" role="alert">≠ ${diverged} word(s) differ between the native page and its mirror</p>` : "";
    view.innerHTML = `${alarm}<table class="hex">${head}${rows.join("")}</table>`;
    const flash = view.querySelector(".written");
    if (flash) flash.scrollIntoView({block: "nearest"});
  }
  return {render};
}
