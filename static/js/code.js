// Panel 1: native | rewritten code side by side, paired by colour and number.

import {esc, hex} from "./format.js";
import {groupHue, groupNumbers} from "./colours.js";
import {ROLE_MARK} from "./contracts.js";
import {focusInBox, keepInView} from "./scroll.js";

// a snapshot brings a new listing array each time: redraw (and lose focus) only when
// the program or its settings changed
function listingKey(state) {
  return `${state.settings.mirror}:${state.settings.offset}:${state.listing.length}:${state.source}`;
}

// an instruction, escaped and laid out to wrap well where it is wider than its listing
// (a listing never scrolls sideways): each operand is kept whole on a line where it fits
// (.arg), and one too long for a line breaks before the `+` of an offset (`table` |
// `+0x80a0000`) or before its addressing mode (`(,%rax,4)`). The text is kept as it is.
const breaks = (s) => esc(s).replace(/(?<=[\w.$)])(?=[+(])/g, "<wbr>");

function codeHtml(text) {
  const cut = text.search(/\s/);
  if (cut < 0) return esc(text);
  let html = esc(text.slice(0, cut));
  let arg = "";
  let depth = 0;   // a comma inside parentheses does not end an operand
  const flush = () => {
    if (arg) html += `<span class="arg">${breaks(arg)}</span>`;
    arg = "";
  };
  for (const c of text.slice(cut)) {
    if (!depth && /\s/.test(c)) { flush(); html += c; continue; }
    arg += c;
    if (c === "(") depth++;
    else if (c === ")") depth = Math.max(0, depth - 1);
    else if (c === "," && !depth) flush();
  }
  flush();
  return html;
}

// "◀ VM 1 ◀ VM 2"; where the listing is narrow only "◀1 ◀2" (app.css)
function hereHtml(ids) {
  return ids.map((id) => `◀<span class="here-vm"> VM </span>${id}`).join(" ");
}

export function createCodePanel({native, rewritten}, {onToggleBreakpoint, mayChange}) {
  let drawnFor = null;

  function draw(state) {
    const rows = [];
    const rw = [];
    const numbers = groupNumbers(state.listing);
    state.listing.forEach((g, i) => {
      const n = numbers[i];
      // one space between the mnemonic and its operands: the source's column alignment
      // costs a narrow listing a third of its width
      const text = g.text.trim().replace(/\s+/, " ");
      const where = g.origin === "kernel" ? "k" : g.line;
      rows.push(`<li class="line ${g.origin}" data-g="${i}" data-address="${g.address}"
        tabindex="-1" aria-label="#${n}, line ${where}: ${esc(text)}"><span class="bp" aria-hidden="true"></span
        ><span class="num">#${n}</span><span class="ln">${where}</span><span class="ins"
        ><code>${codeHtml(text)}</code><span class="here" aria-hidden="true"></span></span></li>`);
      for (const m of g.members) {
        const mark = ROLE_MARK[m.role];
        rw.push(`<li class="member ${g.origin} role-${m.role}" data-g="${i}" data-address="${m.address}"
          ><span class="num">#${n}</span><span class="addr">${hex(m.address)}</span
          ><span class="role role-${m.role}" title="${m.role}">${mark}</span><code>${codeHtml(m.text)}</code></li>`);
      }
    });
    native.innerHTML = rows.join("");
    rewritten.innerHTML = rw.join("");
    // the hue goes through the CSSOM: a strict CSP refuses style attributes in markup
    for (const el of [...native.children, ...rewritten.children]) {
      el.style.setProperty("--g-hue", String(groupHue(Number(el.dataset.g) + 1)));
    }
    drawnFor = listingKey(state);
    const first = native.querySelector(".line.program");
    if (first) first.tabIndex = 0;
    native.tabIndex = first ? -1 : 0;
  }

  function partner(i, on) {
    for (const el of document.querySelectorAll(`.listing [data-g="${i}"]`)) {
      el.classList.toggle("partner", on);
    }
    if (on) keepInView(rewritten, rewritten.querySelector(`[data-g="${i}"]`));
  }

  // hovering either side, or focusing a native line, shows the partner
  const showPartner = (on) => (e) => {
    const el = e.target.closest("[data-g]");
    if (el) partner(el.dataset.g, on);
  };
  for (const [el, enter, leave] of [[native, "mouseover", "mouseout"],
                                    [rewritten, "mouseover", "mouseout"],
                                    [native, "focusin", "focusout"]]) {
    el.addEventListener(enter, showPartner(true));
    el.addEventListener(leave, showPartner(false));
  }
  const toggle = (el) => {
    if (el.classList.contains("program") && mayChange()) onToggleBreakpoint(Number(el.dataset.address));
  };
  native.addEventListener("click", (e) => {
    const el = e.target.closest(".line");
    if (el) toggle(el);
  });
  native.addEventListener("keydown", (e) => {
    const el = e.target.closest(".line");
    if (!el) return;
    if (e.key === "Enter") {
      e.preventDefault();
      toggle(el);
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      e.stopPropagation();
      const next = e.key === "ArrowDown" ? el.nextElementSibling : el.previousElementSibling;
      if (next) { el.tabIndex = -1; next.tabIndex = 0; focusInBox(native, next); }
    }
  });

  let shownAt = null;  // the native address the first VM was last drawn at
  // marks the current lines; what it returns keeps them in view, called once every panel
  // is drawn (layout is read then, once for all)
  function render(state) {
    let place = null;
    if (drawnFor !== listingKey(state)) draw(state);
    for (const el of native.querySelectorAll(".current, .current2, .breakpoint")) {
      el.classList.remove("current", "current2", "breakpoint");
    }
    for (const el of rewritten.querySelectorAll(".current, .executed")) {
      el.classList.remove("current", "executed");
    }
    for (const a of state.breakpoints) {
      const i = state.byAddress.get(a);
      if (i !== undefined) native.children[i].classList.add("breakpoint");
    }
    state.vms.forEach((vm, k) => {
      const i = vm.native === null ? undefined : state.byAddress.get(vm.native);
      if (i === undefined) return;
      const line = native.children[i];
      line.classList.add(k === 0 ? "current" : "current2");
      const here = line.querySelector(".here");
      const ids = state.vms.filter((v) => v.native === vm.native).map((v) => v.id);
      here.innerHTML = hereHtml(ids);
      here.title = ids.map((id) => `VM ${id}`).join(" and ") + " here";
      if (k === 0) {
        const members = [...rewritten.querySelectorAll(`[data-g="${i}"]`)];
        members.forEach((m) => m.classList.add("current"));
        // a step (not a run's progress) brings the line back into the machine area's
        // view if that area was scrolled away from the code (to the injection panel)
        const back = vm.native !== shownAt && !state.running;
        shownAt = vm.native;
        place = () => {
          keepInView(native, line);
          if (back) {
            const area = native.closest(".machine");
            const r = line.getBoundingClientRect();
            if (area && (r.bottom < 0 || r.top > innerHeight)) keepInView(area, line, {margin: 48});
          }
          if (members.length) {
            keepInView(rewritten, members[members.length - 1]);
            keepInView(rewritten, members[0]);
          }
        };
      }
    });
    for (const line of native.querySelectorAll(".line:not(.current):not(.current2) .here")) {
      line.textContent = "";
      line.removeAttribute("title");
    }
    const first = state.vms[0];
    for (const a of first.executed || []) {
      const el = rewritten.querySelector(`[data-address="${a}"]`);
      if (el) el.classList.add("executed");
    }
    return place;
  }

  return {render};
}
