// The stepping bar, the history slider and the keyboard. One focus model: the stepping
// keys act whatever has focus, except a text field or the editor (Esc leaves those and
// gives the keys back). A dropdown, a slider or a radio button keeps only the keys that
// choose in it (↑/↓, Space, Enter), so → after choosing an example steps instead of
// loading the next example.

import {STOP_WORDS} from "./contracts.js";

const $ = (id) => document.getElementById(id);

const TEXT_TYPES = new Set(["text", "search", "email", "url", "tel", "password", "number", ""]);

export function isTextField(el) {
  if (!el || !el.closest) return false;
  if (el.closest("textarea, [contenteditable='true']")) return true;
  const input = el.closest("input");
  return Boolean(input) && TEXT_TYPES.has(input.getAttribute("type") || "");
}

export function createControls({send, onProblem, inject, load, extraKeys, viewOnly = false}) {
  const buttons = {
    step: $("btn-step"), steprw: $("btn-step-rw"), back: $("btn-back"), forward: $("btn-forward"),
    run: $("btn-run"), pause: $("btn-pause"), reset: $("btn-reset"),
  };
  const slider = $("history");
  const label = $("history-label");
  const ticks = $("history-ticks");
  const jump = $("history-jump");
  const status = $("run-status");
  const help = $("help");
  const helpButton = $("btn-help");
  let following = false;   // a student following a classroom: nothing here may change it

  async function act(command, payload = {}) {
    if (following && command !== "pause") return {ok: false};
    const ack = await send(command, payload);
    if (!ack.ok) onProblem(ack.error.message);
    return ack;
  }
  let recorded = 0;  // the history's length as last drawn (reset asks if any)
  const actions = {
    step: () => act("step", {granularity: "native"}),
    steprw: () => act("step", {granularity: "rewritten"}),
    back: () => act("back"),
    forward: () => act("forward"),
    run: () => {
      const speed = $("speed").value;
      return act("run", speed === "max" ? {speed: "max"} : {speed: Number(speed)});
    },
    pause: () => act("pause"),
    // a slip of the 0 key must not lose a prepared demonstration: asked first
    reset: async () => (recorded && !window.confirm(`Reset the VMs to the program's start? ` +
      `The ${recorded} recorded step${recorded === 1 ? "" : "s"}, injections with them, cannot be gone back to.`)
      ? {ok: false} : act("reset")),
  };
  if (viewOnly) {  // a read-only view moves along the recorded history, nothing else
    actions.step = actions.forward;
    for (const name of ["steprw", "run", "pause", "reset"]) actions[name] = async () => ({ok: false});
  }
  for (const [name, el] of Object.entries(buttons)) el.addEventListener("click", actions[name]);
  slider.addEventListener("change", () => act("seek", {position: Number(slider.value)}));
  jump.addEventListener("change", () => {
    if (jump.value !== "") act("seek", {position: Number(jump.value)});
    jump.value = "";
  });
  const toggleHelp = () => {
    help.hidden = !help.hidden;
    helpButton.setAttribute("aria-expanded", String(!help.hidden));
  };
  helpButton.addEventListener("click", toggleHelp);

  const KEYS = {
    ArrowRight: (e) => (e.shiftKey ? "steprw" : "step"), s: () => "step", i: () => "steprw",
    ArrowLeft: (e) => (e.shiftKey ? "forward" : "back"), b: () => "back", r: () => "run",
    p: () => "pause", " ": () => "pause", 0: () => "reset",
  };
  // how each arrow widget got its focus: by a pointer (a click picks a target) or by
  // the keyboard. The last input decides, not a time window: a Tab pressed right after
  // a click is the keyboard's (Tab's keydown comes before the focus it moves)
  let byPointer = false;
  document.addEventListener("pointerdown", () => { byPointer = true; }, true);
  document.addEventListener("keydown", () => { byPointer = false; }, true);
  document.addEventListener("focusin", (e) => {
    const widget = e.target.closest && e.target.closest("[data-arrows]");
    if (widget) widget.dataset.byPointer = String(byPointer);
  }, true);

  // capture phase: a focused dropdown or slider must not see → first
  document.addEventListener("keydown", (e) => {
    const target = e.target;
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      load().then((ack) => {
        if (ack && ack.ok && isTextField(document.activeElement)) document.activeElement.blur();
      });
      return;
    }
    if (isTextField(target)) {
      if (e.key === "Escape") { e.preventDefault(); target.blur(); }
      return;
    }
    if (e.altKey || e.ctrlKey || e.metaKey || e.defaultPrevented) return;
    const key = e.key;
    // a widget that moves a cursor with the arrows (host map, memory words) keeps them
    // when reached by keyboard; a mouse click there picks a target and leaves them
    // stepping (see arrowsOwned)
    const arrows = target.closest("[data-arrows]");
    if (key.startsWith("Arrow") && !e.shiftKey && arrows && arrowsOwned(arrows)) return;
    if (key === "?") { toggleHelp(); e.preventDefault(); return; }
    if (key === "j") { e.preventDefault(); if (!following && !viewOnly) inject.inject(); return; }
    if (key === "k") { e.preventDefault(); inject.focus(); return; }
    if (extraKeys[key]) { e.preventDefault(); extraKeys[key](); return; }
    // Space and Enter keep their meaning on what has focus (press a button, open a list)
    if (key === " " && target.closest("button, summary, a, select, input, label")) return;
    const name = KEYS[key] && KEYS[key](e);
    if (!name) return;
    e.preventDefault();
    e.stopPropagation();
    // a key does what its button does, and nothing while the button is off (r after
    // the exit, ← at the start): no refusal to read, the bar says why already
    if (!buttons[name].disabled) actions[name]();
  }, true);

  function render(state, {follow}) {
    following = follow;
    const h = state.history;
    recorded = h.length;
    slider.max = String(h.length);
    slider.value = String(h.position);
    label.textContent = historyText(h);
    slider.setAttribute("aria-valuetext", `${historyText(h)} (step ${h.position} of ${h.length})`);
    drawMarks(h.marks || []);
    const live = state.vms.some((v) => v.status === "running");
    buttons.run.disabled = follow || state.running || !live;
    buttons.step.disabled = follow || state.running || (viewOnly ? h.position >= h.length : !live);
    buttons.steprw.disabled = follow || state.running || !live;
    buttons.pause.disabled = follow || !state.running;
    buttons.back.disabled = follow || state.running || state.history.position === 0;
    buttons.forward.disabled = follow || state.running || state.history.position >= state.history.length;
    buttons.reset.disabled = follow;
    slider.disabled = follow || state.running;
    jump.disabled = slider.disabled || !(h.marks || []).length;
    const branched = state.branch && state.branch.seq === state.seq
      ? `a new branch: the ${state.branch.dropped} recorded step${state.branch.dropped === 1 ? "" : "s"} ahead were dropped` : "";
    status.textContent = state.running ? "running…" : state.stopped ? STOP_WORDS[state.stopped] || state.stopped : branched;
  }

  // the marks: ticks on the slider, and the same moments by name in "Jump to"
  let drawn = "";
  function drawMarks(marks) {
    const key = marks.map((m) => `${m.position}:${m.kinds.join("+")}`).join(",");
    if (key === drawn) return;
    drawn = key;
    // which VM had which: two VMs' injections at one instruction read apart
    const label = (m) => m.by_vm.map((g) => `${g.vm ? `VM ${g.vm}: ` : ""}${g.kinds.map(markName).join(", ")}`).join("; ");
    ticks.replaceChildren(...marks.map((m) => new Option(label(m), String(m.position))));
    const options = marks.map((m) => new Option(
      `${label(m)} · instruction ${m.native.toLocaleString("en")}`, String(m.position)));
    jump.replaceChildren(new Option(marks.length ? "the moment of…" : "(nothing marked yet)", ""), ...options);
  }
  return {render};
}

const MARK_NAMES = {inject: "injection", mce: "machine check", recovered: "recovery", killed: "VM killed",
                    fault: "fault", exit: "exit", vote: "vote", watch: "watchpoint"};
const markName = (kind) => MARK_NAMES[kind] || kind;

// the history as a teacher counts it: native instructions, not commands
function historyText(h) {
  const now = h.native ?? 0;
  const end = Math.max(h.end_native ?? now, now);
  return end > now ? `instruction ${now.toLocaleString("en")} of ${end.toLocaleString("en")}`
    : `instruction ${now.toLocaleString("en")}`;
}

// whether an arrow widget (data-arrows) keeps the arrow keys: when focused by keyboard
export function arrowsOwned(widget) {
  return widget.dataset.byPointer !== "true";
}
