// Panel 5: machine memory, DIMM by DIMM, each frame drawn by its owner: a colour and a
// pattern (solid native, striped mirror, dotted page table, crossed poisoned), with a
// legend and a list of bad frames in words. Hover (or the arrow keys) tells which VM and
// guest page map a frame; click or Enter picks it.

import {esc, hex} from "./format.js";
import {OWNER_LABEL, ownerClass} from "./colours.js";
import {reverseMap} from "./state.js";
import {arrowsOwned} from "./controls.js";
import {setHtml} from "./dom.js";
import {keepInView} from "./scroll.js";

// an injection's frame, a machine check's, a recovery's copy and new frame (the last wins
// where not all fit)
function storyFrames(state) {
  const frames = [];
  for (const vm of state.vms) {
    for (const n of vm.lastNotes || []) {
      if ((n.kind === "inject" || n.kind === "mce") && n.frame !== undefined) frames.push(n.frame);
      if (n.kind === "recovered") frames.push(n.source_frame, n.new_frame);
    }
  }
  return frames;
}

export function createHostMap({legend, grid, bad: badList, info}, {onPickFrame}) {
  let cursor = 0;
  let state = null;
  let rmap = null;       // frame -> who maps it (reverseMap), made when needed

  function describe(f) {
    const owner = state.machine.owners[f];
    const dimm = state.machine.dimms.find((d) => f >= d.first_frame && f < d.first_frame + d.frames);
    const bad = poisoned(f);
    const who = owner[1] ? ` of VM ${owner[1]}` : "";
    const copy = owner[0] === "mirror" ? ` copy ${owner[2]}` : "";
    rmap = rmap || reverseMap(state);
    const maps = (rmap.get(f) || []).map((m) => m.table ? `a page table of ${esc(m.name)}`
      : `${esc(m.name)} va ${hex(m.va)}${m.copy ? ` (mirror ${m.copy} of ${hex(m.va - m.copy * state.vms.find((v) => v.id === m.vm).offset)})` : ""}`);
    return `frame ${hex(f)} · DIMM ${dimm ? dimm.index : "?"}${dimm && dimm.failed ? " (failed)" : ""} · ` +
      `${OWNER_LABEL[owner[0]]}${who}${copy}${maps.length ? " · maps " + maps.join(", ") : ""}` +
      (bad ? ` · <b>${bad}</b>` : "");
  }

  // an error in a frame of a VM it killed is not pending any more: it was consumed
  function errorState(e) {
    const o = state.machine.owners[Math.floor(e.pa / 4096)];
    const vm = o && o[1] ? state.vms.find((v) => v.id === o[1]) : null;
    return vm && vm.status === "killed" ? `consumed (it killed VM ${vm.id})` : "pending";
  }

  function poisoned(f) {
    if (state.machine.dead.includes(f)) return "lost (DIMM failure)";
    const e = state.machine.errors.find((x) => Math.floor(x.pa / 4096) === f);
    return e ? `${e.kind.toUpperCase()} ${errorState(e)} at ${hex(e.pa)}` : "";
  }

  // the grid is built once per set of DIMMs; a step then changes only the cells whose
  // owner, error or cursor changed (most change nothing), not 2,048 new nodes to lay out
  let shape = null;
  let cells = [];       // frame -> its cell
  let painted = [];     // frame -> the class its cell has
  let toldSeq = null;   // the event whose story frames were last brought into view
  function build(s) {
    const key = s.machine.dimms.map((d) => `${d.index}:${d.first_frame}:${d.frames}:${d.failed}`).join(",");
    if (key === shape) return;
    shape = key;
    grid.innerHTML = s.machine.dimms.map((d) => `<div class="dimm${d.failed ? " failed" : ""}"><div class="dimm-h">DIMM ${d.index}${d.failed ? " — failed ✖" : ""}</div><div class="cells" aria-hidden="true">${"<i></i>".repeat(d.frames)}</div></div>`).join("");
    cells = [];
    painted = [];
    grid.querySelectorAll(".cells").forEach((row, k) => {
      const first = s.machine.dimms[k].first_frame;
      [...row.children].forEach((el, j) => { el.dataset.f = String(first + j); cells[first + j] = el; });
    });
  }

  function paint(f, bad) {
    const cls = `f ${ownerClass(state.machine.owners[f])}${bad.has(f) ? " bad" : ""}${f === cursor ? " cursor" : ""}`;
    if (painted[f] !== cls && cells[f]) {
      cells[f].className = cls;
      painted[f] = cls;
    }
  }
  const badFrames = (s) => new Set([...s.machine.dead, ...s.machine.errors.map((e) => Math.floor(e.pa / 4096))]);

  function render(s) {
    state = s;
    rmap = null;  // made when a frame is described
    build(s);
    const counts = {};
    const bad = badFrames(s);
    for (const d of s.machine.dimms) {
      for (let f = d.first_frame; f < d.first_frame + d.frames; f++) {
        const o = s.machine.owners[f];
        const label = o[0] === "native" || o[0] === "mirror"
          ? `${OWNER_LABEL[o[0]]}${o[0] === "mirror" && o[2] > 1 ? " " + o[2] : ""} (VM ${o[1]})` : OWNER_LABEL[o[0]];
        counts[label] = counts[label] || [ownerClass(o), 0];
        counts[label][1]++;
        paint(f, bad);
      }
    }
    setHtml(legend, Object.entries(counts).map(([label, [cls, n]]) =>
      `<span class="key"><i class="f ${cls}" aria-hidden="true"></i>${esc(label)}: ${n}</span>`).join("") +
      `<span class="key"><i class="f bad" aria-hidden="true"></i>memory error ✖</span>`);
    const lost = s.machine.dead.length;
    const pending = s.machine.errors.map((e) => `${e.kind.toUpperCase()} ${errorState(e)} in frame ${hex(Math.floor(e.pa / 4096))} at ${hex(e.pa)}`);
    badList.textContent = [...pending, lost ? `${lost} frame(s) lost with a failed DIMM` : ""]
      .filter(Boolean).map((t) => "✖ " + t).join(" · ");
    // the frames the last step's story is about, brought into view once every panel is
    // drawn (the box shows only some of the DIMMs, and a mirror copy is often on
    // another), once per event: a redraw for anything else leaves the box where it is
    if (s.seq === toldSeq) return null;
    toldSeq = s.seq;
    const about = storyFrames(s).filter((f) => cells[f]);
    return about.length ? () => about.forEach((f) => keepInView(grid, cells[f])) : null;
  }

  grid.addEventListener("mouseover", (e) => {
    const el = e.target.closest("[data-f]");
    if (el && state) info.innerHTML = describe(Number(el.dataset.f));
  });
  grid.addEventListener("click", (e) => {
    const el = e.target.closest("[data-f]");
    if (el) { move(Number(el.dataset.f)); onPickFrame(cursor); }
  });
  function move(f) {
    const total = state.machine.frames;
    const was = cursor;
    cursor = (f + total) % total;
    const bad = badFrames(state);
    paint(was, bad);
    paint(cursor, bad);
    info.innerHTML = describe(cursor);
  }
  grid.addEventListener("keydown", (e) => {
    if (!state || !arrowsOwned(grid)) return;
    const step = {ArrowRight: 1, ArrowLeft: -1, ArrowDown: 32, ArrowUp: -32}[e.key];
    if (step) { e.preventDefault(); e.stopPropagation(); move(cursor + step); }
    if (e.key === "Enter") { e.preventDefault(); onPickFrame(cursor); }
  });
  return {render};
}
