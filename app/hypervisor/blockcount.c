/* The run-mode block counter, in C: a Python call per basic block costs more than
 * the block itself. Same arithmetic as counting.py (prefix sums over the image's
 * instructions in address order, found through a per-byte index of each code region),
 * but the hot path only counts how often each block ran and adds its native
 * instructions for the budget: the other three counters are folded in at the end of
 * the run (fold), one multiplication per distinct block instead of four additions per
 * executed block. On 3-5-instruction loops that difference is a third of the run.
 * The regions are the code's whole pages, and a block that begins anywhere but at an
 * instruction's first byte is stopped in front of (see `inside`).
 * Built once with the system's C compiler; counting.py falls back to its Python hook
 * when that is not possible. */
#include <stdint.h>

typedef struct {
    uint64_t base, span;        /* code region [base, base + span) */
    const uint32_t *index;      /* per byte offset (span + 1 entries): first instruction >= it */
} region_t;

typedef struct {                /* a block as the CPU translated it, by first instruction */
    uint64_t start;             /* its address (a jump into padding shares the index) */
    uint32_t size, i1;          /* bytes (0: not seen yet); one past its last instruction */
    uint64_t hits, native;      /* runs since the last fold; native instructions per run */
} block_t;

typedef struct {                /* what the hot path touches comes first: one cache line */
    uint64_t nregions;          /* 0 outside run mode: nothing is counted */
    int64_t left;               /* native instructions still to run before the budget */
    block_t *blocks;            /* one per instruction index */
    block_t *last;              /* the last block counted (NULL: none; &odd: see odd_i0) */
    region_t regions[4];        /* the largest (the program's text) first */
    const uint64_t *cum;        /* prefix sums, 4 per instruction index: native, executed,
                                   native writes, mirror writes */
    uint64_t counts[4];         /* [0] is kept by the caller, from `left` */
    uint64_t stopped_for_budget;
    int (*emu_stop)(void *uc);
    uint32_t *seen;             /* instruction indexes of the blocks with a size */
    uint64_t nseen;
    block_t odd;                /* a block cut differently from the one first seen there */
    uint64_t odd_i0;
    uint64_t inside;            /* a block that began inside an instruction (0: none) */
} counter_t;

void on_block(void *uc, uint64_t address, uint32_t size, counter_t *c) {
    for (uint64_t r = 0; r < c->nregions; r++) {
        const region_t *g = &c->regions[r];
        uint64_t off = address - g->base;     /* wraps above span when below base */
        if (off >= g->span)
            continue;
        uint64_t i0 = g->index[off];
        block_t *b = &c->blocks[i0];
        if (__builtin_expect(b->size != size || b->start != address, 0)) {
            if (g->index[off + 1] != i0 + 1) {
                /* not the first byte of an instruction: a jump into the middle of one,
                 * or past the last. Those bytes were never checked or mirrored, so the
                 * block does not run (the first sight of a block comes through here:
                 * the fast path above only ever meets starts) */
                c->inside = address;
                c->emu_stop(uc);
                return;
            }
            if (size > g->span - off)
                return;
            uint64_t i1 = g->index[off + size];
            if (b->size == 0) {       /* first run of the block that starts here */
                b->start = address;
                b->size = size;
                b->i1 = (uint32_t)i1;
                b->native = c->cum[4 * i1] - c->cum[4 * i0];
                c->seen[c->nseen++] = (uint32_t)i0;
            } else {                  /* cut differently, or entered mid-instruction */
                b = &c->odd;
                b->i1 = (uint32_t)i1;
                b->native = c->cum[4 * i1] - c->cum[4 * i0];
                c->odd_i0 = i0;
                const uint64_t *x = c->cum + 4 * i0, *y = c->cum + 4 * i1;
                for (int f = 1; f < 4; f++)
                    c->counts[f] += y[f] - x[f];
                b->hits = 0;          /* counted already */
            }
        }
        b->hits++;
        c->last = b;
        /* stop in front of a block that would pass the budget, or of any block once
         * it is reached (blocks of mirror instructions alone have no native ones) */
        int64_t before = c->left;
        c->left = before - (int64_t)b->native;
        if (__builtin_expect(c->left < 0 || before == 0, 0)) {
            c->stopped_for_budget = 1;
            c->emu_stop(uc);
        }
        return;
    }
}

/* Add what the counted blocks did since the last fold to the executed-instruction
 * and write counters (native instructions are what `left` went down by). */
void fold(counter_t *c) {
    for (uint64_t k = 0; k < c->nseen; k++) {
        uint64_t i0 = c->seen[k];
        block_t *b = &c->blocks[i0];
        if (!b->hits)
            continue;
        const uint64_t *a = c->cum + 4 * i0, *e = c->cum + 4 * (uint64_t)b->i1;
        for (int f = 1; f < 4; f++)
            c->counts[f] += b->hits * (e[f] - a[f]);
        b->hits = 0;
    }
}
