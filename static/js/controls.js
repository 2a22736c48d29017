// Panel 7: stepping controls, the history slider and the keyboard shortcuts.

const $ = (id) => document.getElementById(id);

export function createControls({send, onProblem, inject, load}) {
  const buttons = {
    step: $("btn-step"), steprw: $("btn-step-rw"), back: $("btn-back"), forward: $("btn-forward"),
    run: $("btn-run"), pause: $("btn-pause"), reset: $("btn-reset"),
  };
  const slider = $("history");
  const label = $("history-label");
  const status = $("run-status");
  const help = $("help");
  const helpButton = $("btn-help");

  async function act(command, payload = {}) {
    const ack = await send(command, payload);
    if (!ack.ok) onProblem(ack.error.message);
    return ack;
  }
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
    reset: () => act("reset"),
  };
  for (const [name, el] of Object.entries(buttons)) el.addEventListener("click", actions[name]);
  slider.addEventListener("change", () => act("seek", {position: Number(slider.value)}));
  const toggleHelp = () => {
    help.hidden = !help.hidden;
    helpButton.setAttribute("aria-expanded", String(!help.hidden));
  };
  helpButton.addEventListener("click", toggleHelp);

  document.addEventListener("keydown", (e) => {
    const typing = e.target.closest("textarea, input, select");
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); load(); return; }
    if (typing || e.altKey || e.ctrlKey || e.metaKey) return;
    const key = e.key;
    const map = {
      ArrowRight: e.shiftKey ? "steprw" : "step", s: "step", i: "steprw",
      ArrowLeft: e.shiftKey ? "forward" : "back", b: "back", r: "run", p: "pause", " ": "pause",
      0: "reset",
    };
    if (key === "?") { toggleHelp(); e.preventDefault(); return; }
    if (key === "j") { e.preventDefault(); inject.inject(); return; }
    if (key === "k") { e.preventDefault(); inject.focus(); return; }
    if (key === " " && e.target.closest("button, summary, a")) return;  // Space activates it
    const name = map[key];
    if (name) { e.preventDefault(); actions[name](); }
  });

  function render(state) {
    slider.max = String(state.history.length);
    slider.value = String(state.history.position);
    label.textContent = `${state.history.position} / ${state.history.length}`;
    const live = state.vms.some((v) => v.status === "running");
    buttons.run.disabled = state.running || !live;
    buttons.step.disabled = state.running || !live;
    buttons.steprw.disabled = state.running || !live;
    buttons.pause.disabled = !state.running;
    buttons.back.disabled = state.running || state.history.position === 0;
    buttons.forward.disabled = state.running || state.history.position >= state.history.length;
    slider.disabled = state.running;
    const why = {break: "stopped at a breakpoint", watch: "stopped at a watchpoint",
                 limit: "stopped: budget used up", paused: "paused", exited: "exited",
                 killed: "a VM was killed", fault: "a VM faulted", error: "stopped on an error"};
    status.textContent = state.running ? "running…" : state.stopped ? why[state.stopped] || state.stopped : "";
  }
  return {render};
}
