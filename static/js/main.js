// Wires the panels to the connection: snapshots rebuild the model, step events update
// it, and one animation frame redraws whatever changed.

import {connect} from "./connection.js";
import {esc} from "./format.js";
import {applyEvent, fromSnapshot} from "./state.js";
import {createCodePanel} from "./code.js";
import {createRegistersPanel} from "./registers.js";
import {createPageTablePanel} from "./pagetables.js";
import {createMemoryPanel} from "./memory.js";
import {createHostMap} from "./hostmap.js";
import {createLogPanel} from "./log.js";
import {createEditor} from "./editor.js";
import {createInjectPanel} from "./inject.js";
import {createControls} from "./controls.js";
import {createWatchpoints} from "./watch.js";
import {createClassroom} from "./classroom.js";
import {createCards} from "./cards.js";

const $ = (id) => document.getElementById(id);
let state = null;
let focusVm = 1;
let drawQueued = false;

const problem = $("problem");
function showProblem(message) {
  problem.textContent = message;
  problem.hidden = !message;
}

const WORKSPACE = "kmemvisor.workspace";
const classroom = createClassroom(document.getElementById("lesson"), {
  send: (c, p) => send(c, p), onProblem: (m) => showProblem(m),
  reconnect: () => link.hello(),
});
const link = connect({
  greeting: () => classroom.active ? classroom.greeting()
    : (sessionStorage.getItem(WORKSPACE) ? {workspace: sessionStorage.getItem(WORKSPACE)} : {}),
  onWelcome(ack) {
    if (classroom.active) classroom.welcome(ack);
    else if (ack.ok) sessionStorage.setItem(WORKSPACE, ack.workspace);
  },
  on: {classroom: (s) => classroom.update(s), roster: (r) => classroom.roster(r)},
  onSnapshot(snap) {
    state = fromSnapshot(snap, state);
    editor.setSource(snap.source);
    $("mirror").value = snap.settings.mirror;
    $("offset").value = "0x" + snap.settings.offset.toString(16);
    $("compare").checked = snap.settings.compare;
    if (snap.error) showProblem(snap.error.message);
    redraw();
  },
  onEvents(events) {
    let changed = false;
    for (const ev of events) {
      for (const n of ev.notes || []) if (n.kind === "inject") cards.show(n.error);
      changed = (state && applyEvent(state, ev)) || changed;
    }
    if (changed) redraw();
  },
  onStatus(text) {
    const el = $("connection");
    el.textContent = text;
    el.className = "connection " + (text === "connected" ? "ok" : "bad");
  },
});
const send = async (command, payload) => {
  const ack = await link.send(command, payload);
  if (ack.ok) showProblem("");
  return ack;
};

const cards = createCards(document.getElementById("card"), window.KMV.cards);
const editor = createEditor({text: $("source"), gutter: $("gutter"), error: $("editor-error")});
const code = createCodePanel({native: $("native"), rewritten: $("rewritten")}, {
  onToggleBreakpoint: (address) => send("breakpoint", {address, on: !state.breakpoints.has(address)}),
});
const registers = createRegistersPanel($("regs"));
const pagetables = createPageTablePanel({walk: $("walk"), changes: $("pt-changes"), tree: $("pagetables")});
const inject = createInjectPanel({kinds: $("inject-kinds"), target: $("inject-target"),
  vmSelect: $("inject-vm"), button: $("btn-inject"), result: $("inject-result")},
  {onInject: (payload) => send("inject", payload)});
const watch = createWatchpoints({form: $("watch"), target: $("watch-target"), size: $("watch-size"),
  list: $("watch-list")},
  {send, onProblem: showProblem});
const memory = createMemoryPanel({select: $("mem-page"), writes: $("mem-writes"), view: $("memory")},
  {onPickWord: (va) => { inject.pickAddress(va, focusVm); watch.pick(va); }});
const hostmap = createHostMap({legend: $("host-legend"), grid: $("hostmap"), info: $("host-info")},
  {onPickFrame: (f) => inject.pickFrame(f)});
const log = createLogPanel({counters: $("counters"), consoles: $("console"), log: $("log")});

async function load() {
  const ack = await send("load", {source: editor.value(), mirror: $("mirror").value,
                                  offset: $("offset").value, compare: $("compare").checked});
  if (!ack.ok) editor.showError(ack.error);
  return ack;
}
$("btn-load").addEventListener("click", load);
$("example").addEventListener("change", async () => {
  const ack = await send("example", {name: $("example").value});
  if (!ack.ok) showProblem(ack.error.message);
});
for (const id of ["mirror", "offset", "compare"]) {
  $(id).addEventListener("change", async () => {
    const ack = await send("load", {source: state.source, mirror: $("mirror").value,
                                    offset: $("offset").value, compare: $("compare").checked});
    if (!ack.ok) showProblem(ack.error.message);
  });
}
$("show-kernel").addEventListener("change", (e) => {
  $("code").classList.toggle("show-kernel", e.target.checked);
});
$("setup").addEventListener("submit", (e) => e.preventDefault());
const controls = createControls({send, onProblem: showProblem, inject, load});

function tabs() {
  // rebuilt only when the VMs change, so a focused tab keeps its focus
  const root = $("vm-tabs");
  if (!state.vms.some((v) => v.id === focusVm)) focusVm = state.vms[0].id;
  const key = state.vms.map((vm) => `${vm.id}:${vm.name}`).join(",");
  if (root.dataset.key !== key) {
    root.dataset.key = key;
    root.innerHTML = state.vms.map((vm) => `<button role="tab" data-vm="${vm.id}">VM ${vm.id}: ${esc(vm.name)}</button>`).join("");
  }
  for (const b of root.querySelectorAll("[data-vm]")) {
    b.setAttribute("aria-selected", String(Number(b.dataset.vm) === focusVm));
  }
}
$("vm-tabs").addEventListener("click", (e) => {
  const b = e.target.closest("[data-vm]");
  if (b) { focusVm = Number(b.dataset.vm); redraw(); }
});

function redraw() {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(() => {
    drawQueued = false;
    if (!state) return;
    tabs();
    const vm = state.vms.find((v) => v.id === focusVm);
    code.render(state);
    registers.render(state);
    pagetables.render(state, vm);
    memory.render(state, vm);
    hostmap.render(state);
    log.render(state);
    inject.render(state);
    controls.render(state);
    watch.render(state);
    // for tests and tools: which event the page shows
    document.body.dataset.seq = String(state.seq);
    document.body.dataset.position = String(state.history.position);

  });
}
