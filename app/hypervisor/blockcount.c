/* The run-mode block counter, in C: a Python call per basic block costs more than
 * the block itself. Same arithmetic as counting.py: prefix sums over the image's
 * instructions in address order, looked up through a per-byte index of each code
 * region. Built once with the system's C compiler; counting.py falls back to its
 * Python hook when that is not possible. */
#include <stdint.h>

typedef struct {
    uint64_t base, span;        /* code region [base, base + span) */
    const uint32_t *index;      /* per byte offset (span + 1 entries): first instruction >= it */
} region_t;

typedef struct {
    region_t regions[4];
    uint64_t nregions;
    const uint64_t *cum;        /* prefix sums, 4 per instruction index: native, executed,
                                   native writes, mirror writes (one cache line per lookup) */
    uint64_t counts[4];
    uint64_t last_i0, last_i1, has_last;
    uint64_t budget;            /* stop once counts[0] reaches this */
    uint64_t stopped_for_budget;
    uint64_t active;
    int (*emu_stop)(void *uc);
} counter_t;

void on_block(void *uc, uint64_t address, uint32_t size, counter_t *c) {
    if (!c->active)
        return;
    for (uint64_t r = 0; r < c->nregions; r++) {
        const region_t *g = &c->regions[r];
        if (address < g->base || address + size > g->base + g->span)
            continue;
        uint64_t i0 = g->index[address - g->base];
        uint64_t i1 = g->index[address + size - g->base];
        const uint64_t *a = c->cum + 4 * i0, *b = c->cum + 4 * i1;
        for (int f = 0; f < 4; f++)
            c->counts[f] += b[f] - a[f];
        c->last_i0 = i0;
        c->last_i1 = i1;
        c->has_last = 1;
        if (c->counts[0] >= c->budget) {
            c->stopped_for_budget = 1;
            c->emu_stop(uc);
        }
        return;
    }
}
