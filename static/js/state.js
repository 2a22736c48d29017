// The client's model of a session: built from a snapshot, then kept current by
// applying step events (each carries new values, and old ones for display).

import {copiesOf, entryFrame as ENTRY_FRAME, NATIVE} from "./contracts.js";
import {fromBase64, fromHex} from "./format.js";

const LOG_LIMIT = 1000;  // the event log keeps the newest notes

export function fromSnapshot(snap, previous) {
  const keepLast = previous && previous.source === snap.source && previous.seq === snap.seq;
  const state = {
    seq: snap.seq,
    settings: snap.settings,
    source: snap.source,
    listing: snap.listing,
    byAddress: new Map(snap.listing.map((g, i) => [g.address, i])),
    symbols: snap.symbols,
    machine: {...snap.machine, owners: ownersOf(snap.machine.owner_runs)},
    frames: new Map(Object.entries(snap.memory).map(([f, b]) => [Number(f), fromBase64(b)])),
    log: snap.log.slice(),
    logBase: 0,  // notes dropped from the front of `log` (LOG_LIMIT)
    history: snap.history,
    breakpoints: new Set(snap.breakpoints || []),
    watchpoints: snap.watchpoints || [],
    running: !!snap.running,
    stopped: snap.stopped || null,
    error: snap.error || null,
    vms: snap.vms.map((v) => {
      const old = keepLast ? previous.vms.find((p) => p.id === v.id) : null;
      return {
        ...v,
        tables: new Map(v.tables.map((t) => [`${t.table_frame}:${t.index}`, t])),
        lastRegs: old ? old.lastRegs : {},
        lastWrites: old ? old.lastWrites : [],
        lastPtes: old ? old.lastPtes : [],
        // a seek, a reload or a shared link: the moment's notes as its step brought them
        lastNotes: old ? old.lastNotes : (v.last_notes || []),
        executed: old ? old.executed : [],
      };
    }),
  };
  return state;
}

// every frame's [kind, vm, copy], from the snapshot's runs of equal owners
function ownersOf(runs) {
  const owners = [];
  for (const [kind, vm, copy, count] of runs) {
    for (let i = 0; i < count; i++) owners.push([kind, vm, copy]);
  }
  return owners;
}

export function applyEvent(state, ev) {
  if (ev.kind === "back" || ev.kind === "reset") return false;  // a snapshot follows
  state.seq = ev.seq;
  if (ev.kind === "branch") { state.branch = {seq: ev.seq, dropped: ev.dropped}; return true; }
  // a step's history carries no marks: keep the snapshot's, up to the new end
  if (ev.history) {
    const marks = (state.history.marks || []).filter((m) => m.position <= ev.history.length);
    state.history = {...ev.history, marks};
  }
  const vm = state.vms.find((v) => v.id === ev.vm);
  if (!vm) return false;
  vm.status = ev.status;
  vm.counters = ev.counters;
  vm.native = ev.at;
  for (const [name, {new: value}] of Object.entries(ev.regs)) vm.regs[name] = value;
  vm.lastRegs = ev.regs;
  vm.executed = ev.rewritten.filter((m) => m.executed).map((m) => m.address);
  for (const w of ev.writes) {
    const frame = Math.floor(w.pa / 4096);
    if (!state.frames.has(frame)) state.frames.set(frame, new Uint8Array(4096));
    state.frames.get(frame).set(fromHex(w.new), w.pa % 4096);
  }
  vm.lastWrites = ev.writes;
  // the newest store worth showing, as a snapshot would say it (after a run, a reload)
  const stored = ev.writes.filter((w) => w.copy === NATIVE && w.va !== null).pop();
  if (stored) vm.last_store = {va: stored.va, size: stored.size, by: "step"};
  for (const p of ev.ptes) {
    const key = `${p.table_frame}:${p.index}`;
    if (BigInt(p.new) === 0n) vm.tables.delete(key);
    else vm.tables.set(key, {level: p.level, table_frame: p.table_frame, index: p.index,
                             va: p.va, entry: p.new, mirror: p.mirror});
  }
  vm.lastPtes = ev.ptes;
  for (const f of ev.frames) state.machine.owners[f.frame] = [f.new.kind, f.new.vm, f.new.copy];
  vm.console += ev.console;
  vm.lastNotes = ev.notes;
  for (const n of ev.notes) if (n.kind !== "vm_created") state.log.push(n);
  if (state.log.length > LOG_LIMIT) {
    state.logBase += state.log.length - LOG_LIMIT;
    state.log.splice(0, state.log.length - LOG_LIMIT);
  }
  state.stopped = ev.kind === "run" && ev.stopped !== "running" ? ev.stopped : null;
  return true;
}

// guest pages: va -> {native frame, mirror frames[], flags}, from the PT entries
export function pagesOf(vm) {
  const pages = new Map();
  const copies = copiesOf(vm.mode);
  const pts = [...vm.tables.values()].filter((t) => t.level === "PT");
  for (const t of pts) {
    const k = t.mirror ? Math.floor(t.va / vm.offset) : 0;
    if (k > copies) continue;
    const base = t.va - k * vm.offset;
    if (!pages.has(base)) pages.set(base, {va: base, frame: null, mirrors: [], entry: null});
    const p = pages.get(base);
    if (k === 0) { p.frame = ENTRY_FRAME(t.entry); p.entry = BigInt(t.entry); }
    else p.mirrors[k - 1] = ENTRY_FRAME(t.entry);
  }
  return [...pages.values()].filter((p) => p.frame !== null).sort((a, b) => a.va - b.va);
}

// frame -> [{vm, va, copy}] for the host map's hover text
export function reverseMap(state) {
  const out = new Map();
  for (const vm of state.vms) {
    for (const t of vm.tables.values()) {
      if (t.level !== "PT") continue;
      const f = ENTRY_FRAME(t.entry);
      const copy = vm.offset && t.mirror ? Math.floor(t.va / vm.offset) : 0;
      if (!out.has(f)) out.set(f, []);
      out.get(f).push({vm: vm.id, name: vm.name, va: t.va, copy});
    }
    for (const t of vm.tables.values()) {
      if (t.level === "PT") continue;
      const f = ENTRY_FRAME(t.entry);
      if (!out.has(f)) out.set(f, [{vm: vm.id, name: vm.name, table: true}]);
    }
  }
  return out;
}

export function frameBytes(state, frame) {
  return state.frames.get(frame) || null;
}

