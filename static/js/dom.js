// Writing the page only where it changes.

// the HTML each element was last given: the same HTML written again would still make
// the browser build, style and lay out its nodes anew (and reset what is scrolled or
// focused inside them)
const written = new WeakMap();

// replaces the element's content unless it is already `html`; whether it did
export function setHtml(el, html) {
  if (written.get(el) === html) return false;
  el.innerHTML = html;
  written.set(el, html);
  return true;
}
