// Wires the panels to the connection: snapshots rebuild the model, step events update
// it, and one animation frame redraws whatever changed.

import {connect} from "./connection.js";
// the page's data travels as JSON (a strict CSP runs no inline script)
import {DATA} from "./contracts.js";
import {esc, hex} from "./format.js";
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
import {createLayout} from "./layout.js";
import {createSetup} from "./setup.js";
import {createSharePanel} from "./share.js";

const $ = (id) => document.getElementById(id);
// a shared session's page (a copy to change) or its read-only view (the embed)
const SHARE = document.body.dataset.share || null;
const EMBED = document.body.dataset.embed !== undefined;
let state = null;
// a shared link opens as its sharer saw it: the VM shown (#vm=2) and the word (#at=0x…)
const VIEWED = new URLSearchParams(location.hash.slice(1));
let focusVm = Number(VIEWED.get("vm")) || 1;
let goAt = VIEWED.get("at");
let drawQueued = false;
let online = false;

const problem = $("problem");
function showProblem(message) {
  if (problem.textContent === message && problem.hidden === !message) return;  // every ack says ""
  problem.textContent = message;
  problem.hidden = !message;
}
problem.addEventListener("click", () => showProblem(""));

const layout = createLayout({main: $("main"), grid: $("grid"), toggle: $("btn-present"),
                             pickerButton: $("btn-panels"), picker: $("panel-picker")},
                            {onArrange: () => redraw(), fixed: EMBED ? ["code", "registers", "memory", "console"] : null});
const cards = createCards($("card"), DATA.cards, {avoid: () => document.querySelector("[data-panel=console]")});
// the workspace this tab holds, per page: a share's copy is not the tab's solo session
const WORKSPACE = SHARE ? `kmemvisor.workspace:${location.pathname}` : "kmemvisor.workspace";
const classroom = createClassroom($("lesson"), {
  send: (c, p) => send(c, p), onProblem: (m) => showProblem(m),
  reconnect: () => link.hello(), onChange: () => redraw(),
  focusPanel: (name, stepChanged) => {
    if (stepChanged) cards.hide();
    layout.focusPanel(name);
  },
});
const link = connect({
  greeting: () => {
    if (classroom.active) return classroom.greeting();
    const held = sessionStorage.getItem(WORKSPACE);
    // a share's tab asks for its copy, and for a new one should the server have lost it
    if (SHARE) return held ? {workspace: held, share: SHARE, embed: EMBED} : {share: SHARE, embed: EMBED};
    return held ? {workspace: held} : {};
  },
  onWelcome(ack) {
    if (classroom.active) classroom.welcome(ack);
    else if (ack.ok) sessionStorage.setItem(WORKSPACE, ack.workspace);
    else showProblem(ack.error.message);
    if (ack.ok) showProblem(ack.note || "");  // a session not found, a server that cannot save
  },
  on: {classroom: (s) => classroom.update(s), roster: (r) => classroom.roster(r)},
  onSnapshot(snap) {
    const fresh = !state || state.source !== snap.source;
    state = fromSnapshot(snap, state);
    editor.setSource(snap.source);
    if (fresh) setup.loaded();
    setup.show(snap);
    if (snap.error) showProblem(snap.error.message);
    redraw();
    classroom.sessionChanged();
  },
  onEvents(events) {
    let changed = false;
    const injected = events.flatMap((ev) => (ev.notes || []).filter((n) => n.kind === "inject"));
    if (!injected.length && events.some((ev) => ev.kind === "step" || ev.kind === "run")) cards.hide();
    for (const n of injected) cards.show(n.error);
    // the memory and page-table panels follow the story to the VM it happened in
    const moved = events.flatMap((ev) => (ev.notes || []).filter((n) => STORY_VM.has(n.kind) && n.vm)).pop();
    if (moved) focusVm = moved.vm;
    for (const ev of events) changed = (state && applyEvent(state, ev)) || changed;
    if (changed) redraw();
    classroom.sessionChanged();
  },
  onStatus(text) {
    // while the link is down nothing can change the session: the controls say so
    const was = online;
    online = text === "connected";
    if (was !== online) redraw();
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
const following = () => classroom.following();

const editor = createEditor({text: $("source"), gutter: $("gutter"), error: $("editor-error")});
const setup = createSetup({example: $("example"), mirror: $("mirror"), offset: $("offset"),
                           compare: $("compare"), stale: $("stale"), codePanel: $("code").closest(".panel")},
                          {send, editor, examples: DATA.examples, showProblem, following,
                           source: () => state && state.source});
const code = createCodePanel({native: $("native"), rewritten: $("rewritten")}, {
  onToggleBreakpoint: (address) => send("breakpoint", {address, on: !state.breakpoints.has(address)}),
  mayChange: () => !following(),
});
const registers = createRegistersPanel($("regs"));
const pagetables = createPageTablePanel({walk: $("walk"), changes: $("pt-changes"), tree: $("pagetables")});
const inject = createInjectPanel({kinds: $("inject-kinds"), target: $("inject-target"),
  bitSelect: $("inject-bit"), vmSelect: $("inject-vm"), button: $("btn-inject"), result: $("inject-result")},
  {onInject: (payload) => send("inject", payload)});
const watch = createWatchpoints({form: $("watch"), target: $("watch-target"), size: $("watch-size"),
  list: $("watch-list")},
  {send, onProblem: showProblem, onGoto: (text) => memory.goto(text)});
const memory = createMemoryPanel({select: $("mem-page"), viewSelect: $("mem-view"),
  writes: $("mem-writes"), view: $("memory"), which: $("mem-vm")},
  {onPickWord: (va) => { inject.pickAddress(va, focusVm); watch.pick(va); }, onProblem: showProblem});
const hostmap = createHostMap({legend: $("host-legend"), grid: $("hostmap"), bad: $("host-bad"), info: $("host-info")},
  {onPickFrame: (f) => inject.pickFrame(f)});
const log = createLogPanel({counters: $("counters"), consoles: $("console"), log: $("log")});

$("btn-load").addEventListener("click", () => setup.load());
$("show-kernel").addEventListener("change", (e) => {
  $("code").classList.toggle("show-kernel", e.target.checked);
});
createSharePanel({toggle: $("btn-share"), box: $("share-box"), makeLink: $("btn-make-link"),
  links: $("share-links"), link: $("share-link"), embed: $("share-embed"), copyLink: $("copy-link"),
  copyEmbed: $("copy-embed"), recipe: $("btn-download-recipe"), trace: $("btn-download-trace"),
  upload: $("upload"), status: $("share-status")},
  {send, view: () => ({vm: focusVm, at: memory.chosenAt() === null ? null : hex(memory.chosenAt())})});
// k goes to the injection panel, which presentation mode shows for it if not picked
const injectKeys = {...inject, focus: () => { layout.show("inject"); inject.focus(); }};
const controls = createControls({send, onProblem: showProblem, inject: injectKeys, load: () => setup.load(), viewOnly: EMBED,
  extraKeys: {
    f: () => layout.togglePresent(),
    l: () => classroom.toggle(),
    Escape: () => { cards.hide(); },
  }});
window.addEventListener("resize", () => redraw());
// nothing to step, run or edit before the first snapshot (a student waiting to join, a
// page still connecting): its draw enables what may be used
followingControls(true, false);

const STORY_VM = new Set(["inject", "mce", "killed", "recovered", "vote"]);

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

// a student following the class may look but not change: every control that would is
// disabled (the server refuses them anyway), with the note in the bar saying why
// (so is a read-only view, without the note)
function followingControls(on, note) {
  for (const el of document.querySelectorAll("[data-changes]")) {
    if (el.id !== "source") el.disabled = on;
  }
  editor.setReadOnly(on);
  $("follow-note").hidden = !note;
  document.body.classList.toggle("following", note);
}

function redraw() {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(() => {
    drawQueued = false;
    if (!state) return;
    memory.measure();  // before anything is written: the layout is still the last frame's
    tabs();
    const vm = state.vms.find((v) => v.id === focusVm);
    const follow = following();
    followingControls(follow || EMBED || !online, follow);
    setup.render(follow || EMBED || !online);
    // every panel is written first, and only then are boxes scrolled to what they show:
    // reading the layout between two panels' writes would lay the page out again each time
    const places = [code.render(state)];
    registers.render(state);
    places.push(memory.render(state, vm));
    places.push(pagetables.render(state, vm, memory.spot()));
    places.push(hostmap.render(state));
    places.push(log.render(state));
    inject.render(state);
    controls.render(state, {follow: follow || !online});
    watch.render(state);
    for (const place of places) place?.();
    if (goAt) { const at = goAt; goAt = null; memory.goto(at); }
    // for tests and tools: which event the page shows
    document.body.dataset.seq = String(state.seq);
    document.body.dataset.position = String(state.history.position);
  });
}
