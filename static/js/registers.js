// Panel 2: registers, one column per VM; a value the last step changed is marked ✎
// with the old value beside it.

import {esc} from "./format.js";
import {setHtml} from "./dom.js";

const MAIN = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
              "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags"];
const FLAGS = [[0, "CF"], [2, "PF"], [6, "ZF"], [7, "SF"], [10, "DF"], [11, "OF"]];

function flags(value) {
  const v = BigInt(value);
  return FLAGS.filter(([bit]) => (v >> BigInt(bit)) & 1n).map(([, n]) => n).join(" ") || "–";
}

// a value wider than 64 bits (an XMM register) also as four 32-bit lanes, lane 0 first
function lanes(value) {
  const v = BigInt(value);
  if (v >> 64n === 0n) return "";
  const out = [];
  for (let i = 0; i < 4; i++) out.push("0x" + ((v >> BigInt(32 * i)) & 0xffffffffn).toString(16));
  return `<span class="lanes" title="32-bit lanes 0 to 3">lanes ${out.join(" ")}</span>`;
}

function cell(name, vm) {
  const value = vm.regs[name];
  const change = (vm.lastRegs || {})[name];
  const was = change ? ` <span class="was">was ${esc(change.old)}</span>` : "";
  const extra = name === "rflags" ? ` <span class="muted">${flags(value)}</span>` : "";
  return `<td class="${change ? "changed" : ""}" data-reg="${name}"><code>${esc(value)}</code>${extra}${was}${lanes(value)}</td>`;
}

function table(names, vms) {
  const head = `<thead><tr><th scope="col">reg.</th>${vms.map((vm) => `<th scope="col">${esc(vm.name)}
    <span class="status s-${vm.status}">${vm.status}</span></th>`).join("")}</tr></thead>`;
  const rows = names.map((n) => `<tr><th scope="row">${n}</th>${vms.map((vm) => cell(n, vm)).join("")}</tr>`);
  return `<table class="regs">${head}<tbody>${rows.join("")}</tbody></table>`;
}

export function createRegistersPanel(root) {
  // the <details> is built once, so it keeps its focus and its open state
  root.innerHTML = `<div class="main"></div><details><summary>SSE, x87 and segment bases
    <span class="n-changed"></span></summary><div class="other"></div></details>`;
  const main = root.querySelector(".main");
  const other = root.querySelector(".other");
  const details = root.querySelector("details");
  const count = root.querySelector(".n-changed");
  // open while the last step changed one of these registers, or while the user keeps it
  // open: the same state draws the same panel, whatever came before
  let userOpen = false;
  let drawing = false;
  details.addEventListener("toggle", () => { if (!drawing) userOpen = details.open; });
  function render(state) {
    const vms = state.vms;
    const rest = Object.keys(vms[0].regs).filter((n) => !MAIN.includes(n));
    const changed = rest.filter((n) => vms.some((vm) => (vm.lastRegs || {})[n]));
    setHtml(main, table(MAIN, vms));
    setHtml(other, table(rest, vms));
    count.textContent = changed.length ? `(${changed.length} changed)` : "";
    const open = userOpen || changed.length > 0;
    if (details.open !== open) {
      drawing = true;
      details.open = open;
      setTimeout(() => { drawing = false; });  // the toggle event comes after this task
    }
  }
  return {render};
}
