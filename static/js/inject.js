// Panel 8: error injection — a kind, a target and a VM.

import {copiesOf} from "./contracts.js";
import {hex} from "./format.js";

// The one place that writes an injection target for a picked address: it names the
// byte (the panel's Bit picks which of its bits; `table+4:3` names one in the target).
export function targetFor(va) {
  return hex(va);
}

export function createInjectPanel({kinds, target, bitSelect, vmSelect, button, result}, {onInject}) {
  function render(state) {
    const current = vmSelect.value;
    vmSelect.innerHTML = state.vms.map((vm) =>
      `<option value="${vm.id}">VM ${vm.id}: ${vm.name} (${copiesOf(vm.mode) === 0 ? "no mirror" : vm.mode})</option>`).join("");
    if ([...vmSelect.options].some((o) => o.value === current)) vmSelect.value = current;
  }
  function kind() {
    return kinds.querySelector("input[name=kind]:checked").value;
  }
  async function inject() {
    result.textContent = "…";
    const ack = await onInject({kind: kind(), target: target.value.trim() || "random",
                                bit: Number(bitSelect.value), vm: Number(vmSelect.value) || 1});
    result.textContent = ack.ok ? `${kind().toUpperCase()} injected` : `refused: ${ack.error.message}`;
  }
  button.addEventListener("click", inject);
  return {
    render,
    inject,
    pickFrame(f) { target.value = `frame:${hex(f)}`; },
    pickAddress(va, vm) {
      target.value = targetFor(va);
      if (vm) vmSelect.value = String(vm);
    },
    focus() { kinds.querySelector("input:checked").focus(); },
  };
}
