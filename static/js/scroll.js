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
