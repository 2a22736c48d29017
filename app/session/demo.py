"""A terminal walk-through: the same program in a mirrored and an unmirrored VM, an
uncorrectable error in each, one recovers and one dies."""

from __future__ import annotations

from app.examples import DEFAULT, source
from app.session.session import Session


def demo() -> int:
    text = source(DEFAULT)
    s = Session(text, "on", compare=True)
    print(f"kMemvisor Lab: '{DEFAULT}' in a mirrored VM (1) and an unmirrored VM (2)\n")
    for _ in range(40):
        events = s.step()
        mirrored = next((e for e in events if e["vm"] == 1), None)
        if mirrored and mirrored["native"] and mirrored["native"]["origin"] == "program":
            n = mirrored["native"]
            print(f"line {n['line']:>3}  {n['text']}")
            for r in mirrored["rewritten"]:
                if r["role"] != "native":
                    print(f"          {r['role']:>12}: {r['text']}")
        if not events:
            break
    print("\ninjecting an uncorrectable error into 'table' in both VMs...")
    for vm in (1, 2):
        s.inject("ue", "table+8", vm=vm)
    s.run()
    for vm in s.vms:
        print(f"  {vm.name}: {vm.status}" + (f", exit code {vm.exit_code}"
                                            if vm.exit_code is not None else "")
              + (f" ({vm.report})" if vm.report else ""))
    print("\nThe browser visualizer is started by the same command once it is installed.")
    return 0
