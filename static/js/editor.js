// The program editor: line numbers in a gutter, and an assembly error shown at its line.

export function createEditor({text, gutter, error}) {
  let errorLine = null;

  function drawGutter() {
    const n = text.value.split("\n").length;
    const out = [];
    for (let i = 1; i <= n; i++) out.push(i === errorLine ? `<b class="err-line">${i} ✖</b>` : String(i));
    gutter.innerHTML = out.join("\n");
    gutter.scrollTop = text.scrollTop;
  }
  text.addEventListener("input", () => { errorLine = null; error.textContent = ""; drawGutter(); });
  text.addEventListener("scroll", () => { gutter.scrollTop = text.scrollTop; });

  function showError(err) {
    errorLine = err.line || null;
    error.textContent = err.line ? `line ${err.line}: ${err.message}` : err.message;
    drawGutter();
    if (err.line) {
      const lines = text.value.split("\n");
      const start = lines.slice(0, err.line - 1).join("\n").length + (err.line > 1 ? 1 : 0);
      text.focus({preventScroll: true});
      text.setSelectionRange(start, start + (lines[err.line - 1] || "").length);
      const lineHeight = parseFloat(getComputedStyle(text).lineHeight) || 16;
      text.scrollTop = Math.max(0, (err.line - 4) * lineHeight);
    }
  }

  function setSource(source) {
    if (text.value !== source) {
      text.value = source;
      errorLine = null;
      error.textContent = "";
    }
    drawGutter();
  }
  return {
    showError, setSource, value: () => text.value,
    clearError() { errorLine = null; error.textContent = ""; drawGutter(); },
    setReadOnly(on) { text.readOnly = on; },
  };
}
