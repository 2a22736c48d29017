// Panel 3: the VM's 4-level tree, native and mirror entries told apart, PTE bits
// decoded, and the walk of the current access (native and mirror address) highlighted.

import {esc, hex} from "./format.js";
import {copiesOf, entryFrame as ENTRY_FRAME, NATIVE} from "./contracts.js";
import {keepInView} from "./scroll.js";
import {setHtml} from "./dom.js";

const BITS = [[0n, "P"], [1n, "RW"], [2n, "US"], [5n, "A"], [6n, "D"], [63n, "NX"]];
const LEVELS = ["PML4", "PDPT", "PD", "PT"];
const SHIFT = [39, 30, 21, 12];

export function decodeBits(entry) {
  const e = BigInt(entry);
  return BITS.map(([b, n]) => ((e >> b) & 1n ? n : null)).filter(Boolean);
}

export function walkOf(vm, va) {
  // follow the tree from the root, as the MMU does
  const steps = [];
  let table = [...vm.tables.values()].find((t) => t.level === "PML4")?.table_frame;
  for (let level = 0; level < 4 && table !== undefined; level++) {
    const index = Math.floor(va / 2 ** SHIFT[level]) % 512;
    const t = vm.tables.get(`${table}:${index}`);
    if (!t) { steps.push({level: LEVELS[level], index, missing: true}); break; }
    steps.push({level: LEVELS[level], index, key: `${table}:${index}`, frame: ENTRY_FRAME(t.entry)});
    table = ENTRY_FRAME(t.entry);
  }
  return steps;
}

function walkText(label, va, steps) {
  const parts = steps.map((s) => s.missing ? `${s.level}[${s.index}] not present`
    : `${s.level}[${s.index}]`);
  const last = steps[steps.length - 1];
  const end = last && !last.missing ? ` → frame ${hex(last.frame)}` : "";
  return `<div class="walk-row ${label}"><b>${label}</b> VA ${hex(va)} → ${parts.join(" → ")}${end}</div>`;
}

// a long run changes dozens of entries: count them, list them on demand
function changesHtml(ptes) {
  const pts = ptes.filter((p) => p.level === "PT" && ENTRY_FRAME(p.old) !== ENTRY_FRAME(p.new));
  if (!pts.length) return "";
  const made = pts.filter((p) => BigInt(p.old) === 0n);
  const gone = pts.filter((p) => BigInt(p.new) === 0n);
  const moved = pts.filter((p) => !made.includes(p) && !gone.includes(p));
  const line = (p) => `<li>PTE for ${hex(p.va)}${p.mirror ? " (mirror)" : ""}: ${BigInt(p.old) === 0n ? "new"
    : "frame " + hex(ENTRY_FRAME(p.old))} → ${BigInt(p.new) === 0n ? "removed" : "frame " + hex(ENTRY_FRAME(p.new))}</li>`;
  const plural = (n, what) => `${n} PTE${n === 1 ? "" : "s"} ${what}`;
  const parts = [made.length && plural(made.length, "created"), moved.length && plural(moved.length, "re-created on a new frame"),
                 gone.length && plural(gone.length, "removed")].filter(Boolean);
  // a recovery's re-created PTE is the point of the step: shown, not folded away
  const open = moved.length && pts.length <= 4 ? " open" : "";
  return `<details class="pt-recreated"${open}><summary>${parts.join(", ")}</summary>` +
    `<ul tabindex="0" aria-label="the changed entries">${pts.map(line).join("")}</ul></details>`;
}

export function createPageTablePanel({walk, changes, tree}) {
  function render(state, vm, spot) {
    const mirrorStart = vm.offset;
    const copies = copiesOf(vm.mode);
    const inMirror = (t) => copies > 0 && t.va >= mirrorStart && t.va < (copies + 1) * mirrorStart;
    // the walk of this step's store, else of what the memory panel shows (spot.js)
    const write = (vm.lastWrites || []).find((w) => w.copy === NATIVE && w.va !== null);
    const va = write ? write.va : spot ? spot.va : null;
    const onWalk = new Map();
    if (va !== null) {
      const nat = walkOf(vm, va);
      nat.forEach((s) => s.key && onWalk.set(s.key, "walk-native"));
      let html = walkText("native", va, nat);
      for (let k = 1; k <= copies; k++) {
        const m = walkOf(vm, va + k * vm.offset);
        m.forEach((s) => s.key && onWalk.set(s.key, "walk-mirror"));
        html += walkText(`mirror ${k}`, va + k * vm.offset, m);
      }
      const what = write ? "this step's store" : esc(spot.why);
      walk.innerHTML = `<div class="muted">Walk of ${what}:</div>${html}`;
    } else {
      walk.innerHTML = `<div class="muted">No store yet: no walk to show.</div>`;
    }
    const changed = new Map((vm.lastPtes || []).map((p) => [`${p.table_frame}:${p.index}`, p]));
    const summary = changesHtml(vm.lastPtes || []);
    if (changes.dataset.drawn !== summary) {   // redrawn only when it changed: keeps it open
      changes.innerHTML = summary;
      changes.dataset.drawn = summary;
    }
    const byTable = new Map();
    for (const t of vm.tables.values()) {
      if (!byTable.has(t.table_frame)) byTable.set(t.table_frame, []);
      byTable.get(t.table_frame).push(t);
    }
    const root = [...vm.tables.values()].find((t) => t.level === "PML4");
    setHtml(tree, root ? `<ul class="pt-tree">${level(root.table_frame)}</ul>` : "");
    // the walk's last entries (the PTEs) kept in view inside the tree: the native one, then
    // the mirror's (low in the tree), which wins when both do not fit; once every panel
    // is drawn (layout is read then, once for all)
    return () => {
      for (const cls of ["walk-native", "walk-mirror"]) {
        keepInView(tree, tree.querySelector(`.pte.PT.${cls} > .lvl`));
      }
    };

    function level(frame) {
      const rows = (byTable.get(frame) || []).sort((a, b) => a.index - b.index);
      return rows.map((t) => {
        const key = `${t.table_frame}:${t.index}`;
        const mirror = t.mirror || (t.level !== "PML4" && t.level !== "PDPT" && inMirror(t));
        const cls = ["pte", t.level, mirror ? "mirror" : "native", onWalk.get(key) || "",
                     changed.has(key) ? "changed" : ""].join(" ");
        const bits = decodeBits(t.entry).map((b) => `<span class="bit">${b}</span>`).join("");
        const badge = mirror ? `<span class="badge hidden-badge">mirror · hidden from guest</span>` : "";
        const old = changed.has(key) ? ` <span class="was">was ${esc(changed.get(key).old)}</span>` : "";
        const child = t.level === "PT" ? "" : `<ul>${level(ENTRY_FRAME(t.entry))}</ul>`;
        return `<li class="${cls}"><span class="lvl">${t.level}[${t.index}]</span>
          <span class="va">${hex(t.va)}</span> → <span class="frame">frame ${hex(ENTRY_FRAME(t.entry))}</span>
          ${bits}${badge}${old}${child}</li>`;
      }).join("");
    }
  }
  return {render};
}
