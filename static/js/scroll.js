// Keeping something in view inside its own scroll box. `scrollIntoView` would move every
// scrolling ancestor, the window included, so a step would make the page jump; these
// move only the box they are given.

export function keepInView(box, el, {margin = 8, x = false} = {}) {
  if (!box || !el) return;
  const b = box.getBoundingClientRect();
  const r = el.getBoundingClientRect();
  // a sticky header row inside the box covers its top
  const head = box.querySelector(":scope thead, :scope > table > thead");
  // the part of the box on the screen (in the flowing layout a box can reach below it)
  const onScreen = Math.min(b.bottom, innerHeight) - Math.max(b.top, 0) > 3 * r.height;
  const top = (onScreen ? Math.max(b.top, 0) : b.top) + (head ? head.getBoundingClientRect().height : 0);
  const bottom = onScreen ? Math.min(b.bottom, innerHeight) : b.bottom;
  if (r.top < top + margin) box.scrollTop -= top + margin - r.top;
  else if (r.bottom > bottom - margin) {
    box.scrollTop += Math.min(r.bottom - bottom + margin, r.top - top - margin);
  }
  if (!x) return;
  if (r.left < b.left) box.scrollLeft -= b.left - r.left + margin;
  else if (r.right > b.right) box.scrollLeft += Math.min(r.right - b.right + margin, r.left - b.left);
}

// focus without letting the browser scroll the window to it
export function focusInBox(box, el) {
  el.focus({preventScroll: true});
  keepInView(box, el);
}

// Bring `el` into view in a box that scrolls by whole units (the memory panel's words):
// where the first unit on view is cut by the top of the box, or by the sticky header row
// over it, the box moves up to show all of it or, if that would push `el` out at the
// bottom, down to show none of it (with room made below the last unit if need be).
// Without this a step leaves half a word under the header: its lower half (a copy's row,
// the second line of a label) reads as part of the next word.
export function keepUnitsInView(box, units, el = null) {
  if (!box) return;
  box.style.removeProperty("padding-bottom");        // the room made last time
  if (el) keepInView(box, el);
  const inner = box.getBoundingClientRect().top + box.clientTop;
  const bottom = inner + box.clientHeight;
  const head = box.querySelector(":scope thead th");
  const headBottom = head ? head.getBoundingClientRect().bottom : inner;
  // a unit after the header is covered up to the header's bottom (the header sticks to
  // the top of the box); a note before the table only by the box's edge
  const limitOf = (u) => (head && head.compareDocumentPosition(u) & Node.DOCUMENT_POSITION_FOLLOWING
    ? Math.max(inner, headBottom) : inner);
  let cut = null;
  let limit = inner;
  for (const u of units) {
    limit = limitOf(u);
    if (u.getBoundingClientRect().bottom > limit + 0.5) { cut = u; break; }
  }
  if (!cut) return;
  const r = cut.getBoundingClientRect();
  if (r.top >= limit - 0.5) return;                  // it starts on view: nothing is cut
  const k = el ? el.getBoundingClientRect() : null;
  const fits = (dy) => !k || (k.top + dy >= limit - 0.5 && k.bottom + dy <= bottom + 0.5);
  const up = limit - r.top;
  const down = r.bottom - limit;
  if (fits(up)) {
    box.scrollTop -= up;
  } else if (fits(-down)) {
    const short = box.scrollTop + down - (box.scrollHeight - box.clientHeight);
    if (short > 0) box.style.setProperty("padding-bottom", `${Math.ceil(short)}px`);
    box.scrollTop += down;
  }
}
