// Line colouring: every native line and its rewritten group share a hue and a number,
// so the pairing never rests on colour alone.

const GOLDEN = 137.508;

export function groupHue(n) {
  return Math.round((n * GOLDEN) % 360);
}

// program groups count from #1, the guest kernel's separately (#k1…), so the first line a
// student wrote is #1 whatever the kernel holds
export function groupNumbers(listing) {
  let program = 0;
  let kernel = 0;
  return listing.map((g) => (g.origin === "kernel" ? `k${++kernel}` : String(++program)));
}

export const OWNER_LABEL = {
  free: "free", hypervisor: "hypervisor", native: "VM native", mirror: "VM mirror",
  pagetable: "page table", sink: "mirror sink (MMIO)", poisoned: "poisoned",
};

// owner -> CSS class for the host map; VM 2 gets its own shades
export function ownerClass([kind, vm, copy]) {
  if (kind === "native" || kind === "mirror") return `o-${kind} vm${vm} c${copy}`;
  return `o-${kind}`;
}
