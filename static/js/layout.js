// Presentation mode and the panels it shows, remembered per browser; bringing a panel
// into view inside the machine area (the window itself does not scroll in the shell).

import {keepInView} from "./scroll.js";

const MODE_KEY = "kmemvisor.presentation";
const PANELS_KEY = "kmemvisor.presentation.panels";
const DEFAULT_PANELS = ["code", "pagetables", "memory", "console"];

function stored(key, fallback) {
  try {
    const v = JSON.parse(localStorage.getItem(key));
    return v === null ? fallback : v;
  } catch {
    return fallback;
  }
}

// `fixed`: panels always presented, whatever the browser remembers (a read-only view)
export function createLayout({main, grid, toggle, pickerButton, picker}, {onArrange, fixed = null}) {
  let present = fixed ? true : Boolean(stored(MODE_KEY, false));
  let chosen = fixed || stored(PANELS_KEY, DEFAULT_PANELS);
  let extra = null;   // a panel a lesson step asks for, shown even if not picked
  const panels = () => [...grid.querySelectorAll(":scope > .panel")];

  function arrange() {
    document.body.classList.toggle("present", present);
    toggle.setAttribute("aria-pressed", String(present));
    for (const box of picker.querySelectorAll("input")) box.checked = chosen.includes(box.value);
    for (const p of panels()) {
      p.classList.remove("shown");
      p.style.removeProperty("grid-area");
    }
    grid.style.removeProperty("--p-cols");
    grid.style.removeProperty("--p-rows");
    if (!present) return;
    const shown = panels().filter((p) => chosen.includes(p.dataset.panel) || p.dataset.panel === extra);
    shown.forEach((p) => p.classList.add("shown"));
    // the code listing (if picked) takes the left column over the full height; the others
    // share the rest in one column (up to two of them) or two
    const code = shown.find((p) => p.dataset.panel === "code");
    const rest = shown.filter((p) => p !== code);
    const restCols = rest.length > 2 ? 2 : Math.min(1, rest.length);
    const rows = Math.max(1, Math.ceil(rest.length / Math.max(1, restCols)));
    const cols = [code ? "minmax(0, 1.7fr)" : null, ...Array(restCols).fill("minmax(0, 1fr)")]
      .filter(Boolean);
    grid.style.setProperty("--p-cols", cols.join(" ") || "minmax(0, 1fr)");
    grid.style.setProperty("--p-rows", String(rows));
    const first = code ? 2 : 1;
    if (code) code.style.setProperty("grid-area", `1 / 1 / ${rows + 1} / 2`);
    rest.forEach((p, i) => {
      const col = first + (restCols ? i % restCols : 0);
      const row = 1 + (restCols ? Math.floor(i / restCols) : 0);
      const last = i === rest.length - 1 && restCols === 2 && i % 2 === 0;  // odd one out spans
      p.style.setProperty("grid-area", `${row} / ${col} / ${row + 1} / ${last ? col + 2 : col + 1}`);
    });
  }

  function setPresent(on) {
    if (fixed) return;
    present = on;
    localStorage.setItem(MODE_KEY, JSON.stringify(present));
    arrange();
    onArrange();   // the panels keep their current line and newest note in view
  }
  toggle.addEventListener("click", () => setPresent(!present));
  pickerButton.addEventListener("click", () => {
    picker.hidden = !picker.hidden;
    pickerButton.setAttribute("aria-expanded", String(!picker.hidden));
  });
  picker.addEventListener("change", () => {
    chosen = [...picker.querySelectorAll("input:checked")].map((b) => b.value);
    localStorage.setItem(PANELS_KEY, JSON.stringify(chosen));
    arrange();
    onArrange();
  });
  arrange();

  // a lesson step's panel: marked, shown in presentation mode, and scrolled into view
  // inside the machine area (in the flowing layout only the window can bring it)
  function focusPanel(name) {
    for (const p of grid.querySelectorAll(".panel.focused")) p.classList.remove("focused");
    const panel = name ? grid.querySelector(`[data-panel="${name}"]`) : null;
    if (extra !== (panel ? name : null)) { extra = panel ? name : null; arrange(); }
    if (!panel) return;
    panel.classList.add("focused");
    if (getComputedStyle(main).overflowY === "auto") keepInView(main, panel);
    else if (!inViewport(panel)) panel.scrollIntoView({block: "nearest"});
  }
  // a panel the user asks for by key (k: the injection panel), shown in presentation
  // mode if it was not picked, as a lesson step's panel is
  function show(name) {
    if (!present || chosen.includes(name) || extra === name) return;
    extra = name;
    arrange();
    onArrange();
  }
  return {togglePresent: () => setPresent(!present), focusPanel, show, get present() { return present; }};
}

function inViewport(el) {
  const r = el.getBoundingClientRect();
  return r.top >= 0 && r.top < innerHeight;
}
