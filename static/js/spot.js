// What the memory panel should show after whatever just happened: the word that matters
// and why. The last store if the last step made one; else the failed word of a machine
// check or an injection, the page a recovery rebuilt, a vote's word, the store that hit
// a watchpoint; after a run (whose events carry no stores) the newest of those notes,
// else the word the snapshot names (a word the run changed, the last store before).

import {copiesOf, NATIVE, REPAIRED} from "./contracts.js";
import {hex} from "./format.js";
import {reverseMap} from "./state.js";

const STORY = ["recovered", "mce", "watch", "vote", "inject", "ce", "scrub"];

function vaOfNote(state, vm, n) {
  if (n.va !== null && n.va !== undefined) return n.va;
  if (n.pa === undefined || n.pa === null) return null;
  const maps = reverseMap(state).get(Math.floor(n.pa / 4096)) || [];
  const m = maps.find((x) => x.vm === vm.id && !x.table);
  return m ? m.va + (n.pa % 4096) : null;
}

// a mirror address -> the native one and which copy it is
export function splitCopy(vm, va) {
  const copies = copiesOf(vm.mode);
  const k = vm.offset ? Math.floor(va / vm.offset) : 0;
  return k >= 1 && k <= copies ? {va: va - k * vm.offset, copy: k} : {va, copy: 0};
}

const WHY = {
  recovered: (n) => `the page a recovery rebuilt (frame ${hex(n.old_frame)} → ${hex(n.new_frame)})`,
  mce: () => "the failed word (machine check)",
  watch: () => "the store that hit the watchpoint",
  vote: (n) => `the word a vote ${n.outcome === REPAIRED ? "repaired" : "checked"}`,
  inject: (n) => `the word an injected ${String(n.error).toUpperCase()} hit`,
  ce: () => "the word a corrected error was in",
  scrub: () => "the word the scrub found",
};

function fromNotes(state, vm, notes) {
  for (const kind of STORY) {
    const n = [...notes].reverse().find((x) => x.kind === kind && x.vm === vm.id);
    if (!n) continue;
    let va = vaOfNote(state, vm, n);
    if (va === null) continue;
    if (kind === "recovered") {   // point at the failed word of that page, if known
      const failed = [...notes].reverse().find((x) => x.kind === "mce" && x.vm === vm.id);
      const fva = failed ? vaOfNote(state, vm, failed) : null;
      if (fva !== null && Math.floor(fva / 4096) === Math.floor(va / 4096)) va = fva;
    }
    return {...splitCopy(vm, va), why: WHY[kind](n), kind};
  }
  return null;
}

export function storyOf(state, vm) {
  const notes = fromNotes(state, vm, vm.lastNotes || []);
  if (notes) return notes;
  const store = (vm.lastWrites || []).find((w) => w.copy === NATIVE && w.va !== null);
  if (store) return {va: store.va, copy: 0, why: "the last store", kind: "store", size: store.size};
  const last = vm.last_store;   // from the snapshot: after a run, a reload, a shared link
  if (last && last.by === "run") {
    return {va: last.va, copy: 0, why: "a word the last run changed", kind: "run", size: last.size};
  }
  if (last) return {va: last.va, copy: 0, why: "the last store", kind: "store", size: last.size};
  if (state.stopped === "watch" && state.watchpoints.length === 1) {
    return {...splitCopy(vm, state.watchpoints[0].va), why: "the watchpoint", kind: "watch"};
  }
  return null;
}

// after a run or a reload: the newest note of the story in the log
export function storyInLog(state, vm) {
  return fromNotes(state, vm, state.log.slice(-200));
}
