// Panel 6: guest console per VM, the hypervisor's event log and the counters.

import {esc, hex} from "./format.js";

const ICON = {hypercall: "⇄", mmu_update: "▦", refused: "⛔", exit: "■", inject: "⚡",
              ce: "✓", mce: "⚠", recovered: "✚", killed: "✖", fault: "✖", vote: "⚖",
              scrub: "🔍", limit: "⏱"};

export function describeNote(n) {
  switch (n.kind) {
    case "hypercall": return `hypercall ${esc(n.name)}(${(n.args || []).map(hex).join(", ")}) → ${n.result}`;
    case "mmu_update": return `mmu_update: ${n.count} entr${n.count === 1 ? "y" : "ies"} validated and written, with their mirror PTEs`;
    case "refused": return `refused: ${esc(n.reason)}`;
    case "exit": return `exit with code ${n.code}`;
    case "inject": return n.error === "dimm"
      ? `injected: DIMM ${n.dimm} failed (${n.frames.length} frames lost)`
      : `injected ${n.error.toUpperCase()} at machine ${hex(n.pa)} (frame ${hex(n.frame)}${n.va !== null ? `, va ${hex(n.va)}` : ""}${n.copy ? `, mirror ${n.copy}` : ""}): ${n.old} → ${n.new}`;
    case "ce": return `corrected error at ${hex(n.pa)} (bit ${n.bit}): ECC fixed it, counted`;
    case "mce": return `machine check: uncorrectable error at machine ${hex(n.pa)} (frame ${hex(n.frame)}${n.va !== null && n.va !== undefined ? `, va ${hex(n.va)}` : ""})`;
    case "recovered": return `recovered va ${hex(n.va)}: frame ${hex(n.old_frame)} → ${hex(n.new_frame)}, copied from ${hex(n.source_frame)}` +
      `<ol class="steps">${n.steps.map((s) => `<li>${esc(s)}</li>`).join("")}</ol>`;
    case "killed": return `VM killed: ${esc(n.report)}`;
    case "fault": return `fault: ${esc(n.message || "")}${n.line ? ` (line ${n.line})` : ""}`;
    case "vote": return n.outcome === "repaired"
      ? `vote at ${hex(n.va)}: copy ${n.copy} was ${n.was}, repaired to ${n.now}` : `vote at ${hex(n.va)}: ${esc(n.outcome)}`;
    case "scrub": return `${n.patrol ? `patrol scrub (after ${n.native_instructions} instructions)` : "scrub"}: ` +
      `${esc(n.outcome)}${n.va !== undefined ? ` at ${hex(n.va)}` : ""}`;
    case "limit": return esc(n.message || "limit reached");
    default: return esc(n.kind);
  }
}

export function createLogPanel({counters, consoles, log}) {
  let drawn = 0;
  let drawnLog = null;
  function render(state) {
    counters.innerHTML = `<table class="counters"><tr><th>VM</th><th>native instr.</th><th>executed</th>
      <th>overhead</th><th>native writes</th><th>mirror writes</th><th>CE</th><th>MCE</th><th>recoveries</th></tr>` +
      state.vms.map((vm) => {
        const c = vm.counters;
        const over = c.native_instructions ? ((c.executed_instructions / c.native_instructions - 1) * 100).toFixed(1) + " %" : "–";
        return `<tr><th>${esc(vm.name)}</th><td>${c.native_instructions}</td><td>${c.executed_instructions}</td>
          <td>${over}</td><td>${c.native_writes}</td><td>${c.mirror_writes}</td><td>${c.corrected_errors}</td>
          <td>${c.machine_checks}</td><td>${c.recoveries}</td></tr>`;
      }).join("") + "</table>";
    consoles.innerHTML = state.vms.map((vm) => `<div class="vm-col"><h3>${esc(vm.name)} console
      <span class="status s-${vm.status}">${vm.status}${vm.exit_code !== null ? " · exit " + vm.exit_code : ""}</span></h3>
      <pre class="console-out">${esc(vm.console) || "<span class='muted'>(no output)</span>"}</pre>
      ${vm.report ? `<p class="report">${esc(vm.report)}</p>` : ""}</div>`).join("");
    if (drawnLog !== state.log) { log.innerHTML = ""; drawn = state.logBase; drawnLog = state.log; }
    const frag = document.createDocumentFragment();
    for (drawn = Math.max(drawn, state.logBase); drawn < state.logBase + state.log.length; drawn++) {
      const n = state.log[drawn - state.logBase];
      if (n.kind === "hypercall" && n.name === "console_write") continue;
      const li = document.createElement("li");
      li.className = `note n-${n.kind}`;
      li.innerHTML = `<span class="icon" aria-hidden="true">${ICON[n.kind] || "·"}</span>` +
        `<span class="who">${n.vm ? "VM " + n.vm : "machine"}</span> ${describeNote(n)}`;
      frag.appendChild(li);
    }
    log.appendChild(frag);
    while (log.children.length > 1000) log.firstChild.remove();
    if (frag) log.scrollTop = log.scrollHeight;
  }
  return {render};
}
