// The contracts as the server states them (app/contracts/constants.py): the page's data
// element carries the document, so no panel keeps its own copy of a mode's copies, the
// PTE's frame bits, the role letters or the stop reasons.

export const DATA = JSON.parse(document.getElementById("kmv-data").textContent);
const C = DATA.contracts;

export const MODES = C.modes;                     // [{mode, label, copies}], the page's order
export const DEFAULT_OFFSET = C.default_offset;
export const NATIVE = C.native_copy;              // a write's copy: 0 native, k mirror k
export const ROLE_MARK = C.roles;                 // role -> the letter the code panel shows
export const STOP_WORDS = C.stops;                // a run's end -> what the bar says
export const REPAIRED = C.vote_repaired;          // a vote's outcome that repaired a copy
const COPIES = new Map(C.modes.map((m) => [m.mode, m.copies]));
const FRAME_MASK = BigInt(C.pte_frame_mask);

export const copiesOf = (mode) => COPIES.get(mode) ?? 0;
export const copyName = (copy) => (copy === NATIVE ? "native" : `mirror ${copy}`);
// a page-table entry (hex string) -> the machine frame it maps
export const entryFrame = (entry) => Number((BigInt(entry) & FRAME_MASK) >> 12n);
