// The memory panel's table: one row per 8-byte word, a column per copy (native, mirror
// 1, mirror 2) when they fit, else the copies stacked under each address; words shown as
// hex, bytes, ASCII or decimal; runs of zero words folded. Each word (its stacked rows
// too) is a <tbody> of its own: the panel scrolls by whole words (keepUnitsInView in
// scroll.js), so a copy's row is never shown without its address.

import {byteHex, esc, hex} from "./format.js";

export const VIEWS = {
  hex: {chars: 16, cell: (b, at) => word(b, at)},
  bytes: {chars: 23, cell: null},
  ascii: {chars: 8, cell: (b, at) => esc([...b.subarray(at, at + 8)]
    .map((c) => (c >= 32 && c < 127 ? String.fromCharCode(c) : "·")).join(""))},
  unsigned: {chars: 20, cell: (b, at) => BigInt("0x" + word(b, at)).toString()},
  signed: {chars: 20, cell: (b, at) => BigInt.asIntN(64, BigInt("0x" + word(b, at))).toString()},
};

function word(bytes, at) {
  let s = "";
  for (let i = 7; i >= 0; i--) s += byteHex(bytes[at + i]);
  return s;
}

function cellHtml(view, bytes, at, va, cls) {
  if (view === "bytes") {   // memory order, each byte its own target
    const parts = [];
    for (let i = 0; i < 8; i++) {
      parts.push(`<span class="b ${cls}" data-va="${va + i}" title="${hex(va + i)}">${byteHex(bytes[at + i])}</span>`);
    }
    return parts.join("");
  }
  return `<span class="w ${cls}" data-va="${va}" title="${hex(va)}">${VIEWS[view].cell(bytes, at)}</span>`;
}

// copies: [{name, frame, bytes, base}] (base: the guest address of the copy's page)
export function tableHtml({page, copies, view, flashed, spot, symbolAt, stacked}) {
  const head = stacked
    ? `<thead><tr><th scope="col">address</th><th scope="col">copy</th><th scope="col">${view}</th></tr></thead>`
    // each copy's heading as narrow as its words (its address in the tooltip): "mirror 1,
    // VA +0x8000000 (frame 0x406)" was wider than the column and cut
    : `<thead><tr><th scope="col">address</th>${copies.map((c) =>
      `<th scope="col" title="${esc(c.name)}, frame ${hex(c.frame)}">${esc(c.short)}` +
      `<span class="th-frame">frame ${hex(c.frame)}</span></th>`).join("")}</tr></thead>`;
  const rows = [];
  const pending = [];
  let zeros = 0;   // a run of all-zero words folds into one row
  let diverged = 0;
  // the "…" goes with the count: in the address cell it made that column a character
  // wider than any word's address
  const fold = () => {
    if (zeros > 3) {
      rows.push(`<tbody><tr class="fold"><th scope="row">${hex(page.va + pending.first)}</th>` +
        `<td colspan="${stacked ? 2 : copies.length}">… ${zeros} zero words</td></tr></tbody>`);
    } else rows.push(...pending.rows);
    zeros = 0;
    pending.rows = [];
  };
  pending.rows = [];
  for (let off = 0; off < 4096; off += 8) {
    const va = page.va + off;
    const words = copies.map((c) => word(c.bytes, off));
    const differs = words.some((w) => w !== words[0]);
    if (differs) diverged++;
    const label = symbolAt(va);
    const marks = copies.map((c, k) => ["w-cell", flashed.has(`${k}:${va}`) ? "written" : "",
      differs ? "differs" : "", spot && spot.word === va && spot.copy === k ? "spot-word" : ""].join(" "));
    // a label keeps to one line (a row as tall as three would fill a laptop's panel): the
    // whole of it is in the title
    const sym = label ? `<span class="sym" title="${esc(label)}">${esc(label)}</span>` : "";
    const addr = `${hex(va)}${sym}`;
    const cells = copies.map((c, k) => `${differs ? "≠ " : ""}${cellHtml(view, c.bytes, off, c.base + off, marks[k])}`);
    let row;
    if (stacked) {
      // the label goes beside the first mirror's row, under the address: on the native
      // row's it would stand between the word's copies
      const th = (k) => (k ? `<span class="visually-hidden">${hex(va)}</span>${k === 1 ? sym : ""}` : hex(va));
      row = copies.map((c, k) => `<tr class="${k ? "copy-row" : ""}${differs ? " diverged" : ""}">` +
        `<th scope="row">${th(k)}</th><td>${esc(c.short)}</td><td>${cells[k]}</td></tr>`).join("");
    } else {
      row = `<tr${differs ? " class='diverged'" : ""}><th scope="row">${addr}</th>${cells.map((c) => `<td>${c}</td>`).join("")}</tr>`;
    }
    row = `<tbody>${row}</tbody>`;
    const plain = !differs && !label && marks.every((m) => m.trim() === "w-cell")
      && words.every((w) => w === "0000000000000000");
    if (plain) {
      if (!zeros) pending.first = off;
      zeros++;
      pending.rows.push(row);
      continue;
    }
    fold();
    rows.push(row);
  }
  fold();
  const alarm = diverged ? `<p class="divergence" role="alert">≠ ${diverged} word(s) differ between the native page and its mirror</p>` : "";
  return `${alarm}<table class="hex">${head}${rows.join("")}</table>`;
}
