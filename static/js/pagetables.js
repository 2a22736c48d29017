// Panel 3: the VM's 4-level tree, native and mirror entries told apart, PTE bits
// decoded, and the walk of the current access (native and mirror address) highlighted.

import {esc, hex} from "./format.js";
import {ENTRY_FRAME} from "./state.js";

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

export function createPageTablePanel({walk, changes, tree}) {
  function render(state, vm) {
    const mirrorStart = vm.offset;
    const copies = vm.mode === "nmr3" ? 2 : vm.mode === "on" ? 1 : 0;
    const inMirror = (t) => copies > 0 && t.va >= mirrorStart && t.va < (copies + 1) * mirrorStart;
    const write = (vm.lastWrites || []).find((w) => w.copy === "native" && w.va !== null);
    const onWalk = new Map();
    if (write) {
      const nat = walkOf(vm, write.va);
      nat.forEach((s) => s.key && onWalk.set(s.key, "walk-native"));
      let html = walkText("native", write.va, nat);
      for (let k = 1; k <= copies; k++) {
        const m = walkOf(vm, write.va + k * vm.offset);
        m.forEach((s) => s.key && onWalk.set(s.key, "walk-mirror"));
        html += walkText(`mirror ${k}`, write.va + k * vm.offset, m);
      }
      walk.innerHTML = `<div class="muted">Walk of this step's store:</div>${html}`;
    } else {
      walk.innerHTML = `<div class="muted">No store in the last step: no walk to show.</div>`;
    }
    const changed = new Map((vm.lastPtes || []).map((p) => [`${p.table_frame}:${p.index}`, p]));
    const moved = (vm.lastPtes || []).filter((p) => p.level === "PT" &&
      ENTRY_FRAME(p.old) !== ENTRY_FRAME(p.new));
    changes.innerHTML = moved.length ? `<div class="pt-recreated" role="status">` + moved.map((p) =>
      `PTE for ${hex(p.va)}${p.mirror ? " (mirror)" : ""}: ${BigInt(p.old) === 0n ? "new"
        : "frame " + hex(ENTRY_FRAME(p.old))} → ${BigInt(p.new) === 0n ? "removed"
        : "frame " + hex(ENTRY_FRAME(p.new))}`).join("<br>") + "</div>" : "";
    const byTable = new Map();
    for (const t of vm.tables.values()) {
      if (!byTable.has(t.table_frame)) byTable.set(t.table_frame, []);
      byTable.get(t.table_frame).push(t);
    }
    const root = [...vm.tables.values()].find((t) => t.level === "PML4");
    tree.innerHTML = root ? `<ul class="pt-tree">${level(root.table_frame)}</ul>` : "";

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
