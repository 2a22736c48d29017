// The set-up bar (example, mirror mode, offset, twin) and loading the editor's program.
// The dropdowns always show the session's own values (a classroom's shared session for a
// following student); a load that fails marks the listing as the previous program's.

import {esc} from "./format.js";

export function createSetup({example, mirror, offset, compare, stale, codePanel},
                            {send, editor, examples, showProblem, following, source}) {
  let failed = null;   // the error of the last load, while the listing is the old program
  let unmirrored = false;  // the session has no mirrored VM to set a twin beside

  function markStale(error) {
    failed = error;
    codePanel.classList.toggle("is-stale", Boolean(error));
    stale.hidden = !error;
    if (error) {
      stale.innerHTML = `The listing below is the previous program: the editor's text did not load ` +
        `(${error.line ? `line ${error.line}: ` : ""}${esc(error.message)}). Fix it and press Ctrl+Enter.`;
    }
  }

  async function load() {
    const ack = await send("load", {source: editor.value(), mirror: mirror.value,
                                    offset: offset.value, compare: compare.checked});
    if (!ack.ok) {
      editor.showError(ack.error);
      markStale(ack.error);
      showProblem(`Not loaded: ${ack.error.line ? `line ${ack.error.line}: ` : ""}${ack.error.message}`);
    }
    return ack;
  }
  async function reload() {
    const ack = await send("load", {source: source(), mirror: mirror.value,
                                    offset: offset.value, compare: compare.checked});
    if (!ack.ok) showProblem(ack.error.message);
  }
  example.addEventListener("change", async () => {
    const ack = await send("example", {name: example.value});
    if (!ack.ok) showProblem(ack.error.message);
  });
  for (const el of [mirror, offset, compare]) el.addEventListener("change", reload);
  document.getElementById("setup").addEventListener("submit", (e) => e.preventDefault());

  function show(snap) {
    const name = Object.keys(examples).find((n) => examples[n] === snap.source);
    example.value = name || "";
    mirror.value = snap.settings.mirror;
    offset.value = "0x" + snap.settings.offset.toString(16);
    // with mirroring off there is no twin to show: the box keeps the choice for when
    // mirroring is on again
    unmirrored = snap.settings.mirror === "off";
    if (!unmirrored) compare.checked = snap.settings.compare;
    compare.title = unmirrored ? "mirroring is off: the one VM is unmirrored already" : "";
  }
  return {
    load, show,
    loaded() { if (failed) { markStale(null); editor.clearError(); } },
    render(follow) {
      for (const el of [example, mirror, offset]) el.disabled = follow;
      compare.disabled = follow || unmirrored;
      if (failed && editor.value() === source()) markStale(null);
    },
  };
}
