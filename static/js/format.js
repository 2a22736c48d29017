// Small formatting helpers shared by the panels.

export const hex = (n, width = 0) => "0x" + Number(n).toString(16).padStart(width, "0");

export const big = (s) => BigInt(s);

export function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  }[c]));
}

// a lesson's short text (a quiz's question, choices, explanation): escaped, and its
// `code` spans set as code, as the lesson's Markdown narrative shows them
export function escInline(text) {
  return esc(text).replace(/`([^`\n]+)`/g, "<code>$1</code>");
}

// little-endian bytes (hex string) -> "0x…" value
export function leHex(bytes) {
  let out = "";
  for (let i = bytes.length - 2; i >= 0; i -= 2) out += bytes.slice(i, i + 2);
  return "0x" + (out.replace(/^0+(?=.)/, "") || "0");
}

export function fromHex(text) {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  return out;
}

export function fromBase64(text) {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

export function byteHex(b) {
  return b.toString(16).padStart(2, "0");
}
