// Panel 6: guest console per VM, the hypervisor's event log and the counters.

import {REPAIRED, copiesOf, copyName} from "./contracts.js";
import {esc, hex} from "./format.js";
import {setHtml} from "./dom.js";
import {keepUnitsInView} from "./scroll.js";

const ICON = {hypercall: "⇄", mmu_update: "▦", refused: "⛔", exit: "■", inject: "⚡",
              ce: "✓", mce: "⚠", recovered: "✚", killed: "✖", fault: "✖", vote: "⚖",
              scrub: "⌕", limit: "◔", watch: "◉"};

// what a step came to, shown first when its notes do not all fit in the box
const OUTCOMES = ["recovered", "killed", "fault", "vote", "exit", "watch", "limit"];

// the mmu_update line says what the hypervisor wrote for this VM's mode
const MIRROR_PTES = ["", ", with their mirror PTEs", ", with their two mirror PTEs each"];

// where an injection struck, as the user aims one: the byte's own address (a note names
// the 8-byte word and a bit counted from its lowest byte) and the bit within that byte
function struck(n) {
  const byte = Math.floor(n.bit / 8);
  const va = n.va !== null && n.va !== undefined ? `va ${hex(n.va + byte)}, ` : "";
  const bit = `bit ${n.bit % 8}${n.error === "ue" ? " and the next" : ""}`;
  return `${va}${bit} (machine ${hex(n.pa + byte)}, frame ${hex(n.frame)}${n.copy ? `, mirror ${n.copy}` : ""})`;
}

export function describeNote(n, mode = "on") {
  switch (n.kind) {
    case "hypercall": return `hypercall ${esc(n.name)}(${(n.args || []).map(hex).join(", ")}) → ${n.result}`;
    case "mmu_update": return `mmu_update: ${n.count} entr${n.count === 1 ? "y" : "ies"} validated and written${MIRROR_PTES[copiesOf(mode)] ?? ""}`;
    case "refused": return `refused: ${esc(n.reason)}`;
    case "exit": return `exit with code ${n.code}`;
    case "inject": return n.error === "dimm"
      ? `injected: DIMM ${n.dimm} failed (${n.frames.length} frames lost)`
      : `injected ${n.error.toUpperCase()} at ${struck(n)}: its word ${n.old} → ${n.new}`;
    case "ce": return `corrected error at ${hex(n.pa)} (bit ${n.bit}): ECC fixed it, counted`;
    case "mce": return `machine check: uncorrectable error at machine ${hex(n.pa)} (frame ${hex(n.frame)}${n.va !== null && n.va !== undefined ? `, va ${hex(n.va)}` : ""})`;
    case "recovered": return `recovered va ${hex(n.va)}: frame ${hex(n.old_frame)} → ${hex(n.new_frame)}, copied from ${hex(n.source_frame)}` +
      // the how folded away: a laptop's log then shows the whole moment (and the
      // unmirrored VM's end beside it), not the steps of one recovery
      `<details class="steps"><summary>how, in ${n.steps.length} steps</summary>` +
      `<ol>${n.steps.map((s) => `<li>${esc(s)}</li>`).join("")}</ol></details>`;
    case "killed": return `killed: ${esc(n.report)}`;  // after "VM 2"
    case "fault": return `fault: ${esc(n.message || "")}${n.line ? ` (line ${n.line})` : ""}`;
    case "vote": return n.outcome === REPAIRED
      ? `vote at ${hex(n.va)}: the ${copyName(n.copy)} copy was ${n.was}, repaired to ${n.now}` : `vote at ${hex(n.va)}: ${esc(n.outcome)}`;
    case "scrub": return `${n.patrol ? `patrol scrub (after ${n.native_instructions} instructions)` : "scrub"}: ` +
      `${esc(n.outcome)}${n.va !== undefined ? ` at ${hex(n.va)}` : ""}`;
    case "watch": return `watchpoint ${n.va !== undefined ? hex(n.va) : ""} hit${n.line ? ` by the store at line ${n.line}` : ""}`;
    case "limit": return esc(n.message || "limit reached");
    default: return esc(n.kind);
  }
}

// one line of facts per VM, wrapping between facts: it never clips, however narrow (a
// laptop's panel holds each VM in two lines, leaving the log its room)
function countersHtml(state) {
  return state.vms.map((vm) => {
    const c = vm.counters;
    const over = c.native_instructions ? "+" + ((c.executed_instructions / c.native_instructions - 1) * 100).toFixed(1) + " %" : "–";
    const facts = [`${c.native_instructions} native → ${c.executed_instructions} executed`,
      `<span title="overhead: the instructions executed beyond the native ones">${over}</span>`,
      `writes ${c.native_writes} + ${c.mirror_writes} mirror`,
      `CE ${c.corrected_errors} · MCE ${c.machine_checks} · recovered ${c.recoveries}`];
    return `<li><b>${esc(vm.name)}:</b> ${facts.map((f) => `<span class="fact">${f}</span>`).join(" ")}</li>`;
  }).join("");
}

export function createLogPanel({counters, consoles, log}) {
  let drawn = 0;
  let drawnLog = null;
  let told = Infinity;    // how many notes the last state drawn had (none is new at first)
  let storyAt = Infinity; // the first of the notes the latest change brought
  let follow = true;      // keep the newest note in view until the reader scrolls back
  let placed = 0;         // where we put the scroll ourselves
  log.addEventListener("scroll", () => {
    follow = Math.abs(log.scrollTop - placed) < 4 || log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  });
  function render(state) {
    setHtml(counters, countersHtml(state));
    const printed = setHtml(consoles, state.vms.map((vm) => `<div class="vm-col"><h3>${esc(vm.name)} console
      <span class="status s-${vm.status}">${vm.status}${vm.exit_code !== null ? " · exit " + vm.exit_code : ""}</span></h3>
      <pre class="console-out" tabindex="0">${esc(vm.console) || "<span class='muted'>(no output)</span>"}</pre>
      ${vm.report ? `<p class="report">${esc(vm.report)}</p>` : ""}</div>`).join(""));
    // the notes the latest change brought, from the first (kept while states without
    // new notes are drawn, such as the snapshot after a step's events)
    const now = state.logBase + state.log.length;
    if (now > told) storyAt = told;
    told = now;
    if (drawnLog !== state.log) { log.innerHTML = ""; drawn = state.logBase; drawnLog = state.log; }
    const modes = new Map(state.vms.map((vm) => [vm.id, vm.mode]));
    const frag = document.createDocumentFragment();
    for (drawn = Math.max(drawn, state.logBase); drawn < state.logBase + state.log.length; drawn++) {
      const n = state.log[drawn - state.logBase];
      if (n.kind === "hypercall" && n.name === "console_write") continue;
      const li = document.createElement("li");
      li.className = `note n-${n.kind}`;
      li.dataset.at = drawn;
      li.innerHTML = `<span class="icon" aria-hidden="true">${ICON[n.kind] || "·"}</span>` +
        `<span class="who">${n.vm ? "VM " + n.vm : "machine"}</span> ${describeNote(n, modes.get(n.vm))}`;
      frag.appendChild(li);
    }
    const added = frag.childNodes.length;
    log.appendChild(frag);
    const story = [...log.children].filter((li) => Number(li.dataset.at) >= storyAt);
    const first = story[0];
    const outcome = story.find((li) => OUTCOMES.some((k) => li.classList.contains(`n-${k}`)));
    while (log.children.length > 1000) log.firstChild.remove();
    const last = log.lastElementChild;
    const note = (added || follow) && last;
    // once every panel is drawn (layout is read then, once for all): a console shows its
    // newest output, as a terminal does, and the log its newest note; when a step's
    // notes do not all fit, the box shows them from their first outcome (a recovery
    // before the other VM's end, which its console tells too), else from the first
    return () => {
      if (printed) for (const out of consoles.querySelectorAll(".console-out")) out.scrollTop = out.scrollHeight;
      if (!note) return;
      const tooLong = (from) => last.offsetTop + last.offsetHeight - from.offsetTop > log.clientHeight;
      const from = first && tooLong(first) ? outcome || first : first || last;
      if (tooLong(from)) log.scrollTop = from.offsetTop;
      else keepUnitsInView(log, log.children, last);  // whole notes: none cut at the top
      placed = log.scrollTop;
      follow = true;
    };
  }
  return {render};
}
