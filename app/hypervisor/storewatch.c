/* Watchpoints without single steps: the native frames of the watched pages are mapped
 * in the engine without write permission, so every store to them comes here before it
 * retires (loads run at full speed). A store that touches a watched range is refused:
 * the CPU stops in front of its instruction, which has not retired. Any other store is
 * made here and let through (Unicorn discards the store itself once a write-protect
 * hook has let it pass: issue #2368).
 *
 * A store is judged whole (an unaligned one is offered whole first, then byte by
 * byte). A store across the edge from an unprotected page would reach us only with
 * its second page's bytes, the first already in memory: watch.py protects the page
 * beside a watched byte near the edge. An instruction that stores twice (a 16-byte
 * store is two, cmpxchg16b's too) may be refused at its second store: what one
 * execution of an instruction stored here is journaled and undone then, or it would
 * run again on its own half-made result. One execution: the same RIP in the same
 * basic block run (each element of a rep string instruction is a block run of its
 * own), counted by on_block.
 * Built once with the system's C compiler, beside blockcount.c. */
#include <stdint.h>
#include <string.h>

#define MAX_RANGES 64
#define JOURNAL 256

typedef struct {
    uint64_t armed;             /* 0: every store passes (the stop has been taken) */
    uint64_t refused;           /* a store was refused: refuse the rest of this run's */
    uint64_t nranges;
    uint64_t lo[MAX_RANGES], hi[MAX_RANGES];    /* machine ranges [lo, hi) */
    uint8_t *memory;            /* the machine memory the engine maps */
    uint64_t size;
    uint64_t blocks;            /* basic block runs so far */
    uint64_t at_block, at_rip;  /* the execution the journal belongs to */
    uint64_t njournal;          /* more than any one instruction stores (fxsave: 64) */
    uint64_t jpa[JOURNAL], jold[JOURNAL];
    uint32_t jsize[JOURNAL];
    int (*reg_read)(void *uc, int regid, void *value);
    int rip_id;
    uint64_t refused_pa, refused_size;  /* the store refused (for the log) */
} watch_t;

void on_block(void *uc, uint64_t address, uint32_t size, watch_t *w) {
    (void)uc; (void)address; (void)size;
    w->blocks++;
}

static int touches(const watch_t *w, uint64_t pa, uint64_t size) {
    for (uint64_t k = 0; k < w->nranges; k++)
        if (pa < w->hi[k] && pa + size > w->lo[k])
            return 1;
    return 0;
}

static void undo(watch_t *w) {
    while (w->njournal) {
        uint64_t n = --w->njournal;
        memcpy(w->memory + w->jpa[n], &w->jold[n], w->jsize[n]);
    }
}

_Bool on_store(void *uc, int type, uint64_t pa, int size, int64_t value, watch_t *w) {
    (void)type;
    if (w->refused || size <= 0 || size > 8 || pa + (uint64_t)size > w->size)
        return 0;
    uint64_t rip = 0;
    w->reg_read(uc, w->rip_id, &rip);
    if (rip != w->at_rip || w->blocks != w->at_block) {
        w->at_rip = rip;
        w->at_block = w->blocks;
        w->njournal = 0;
    }
    if (w->armed && touches(w, pa, (uint64_t)size)) {
        undo(w);
        w->refused = 1;
        w->refused_pa = pa;
        w->refused_size = (uint64_t)size;
        return 0;
    }
    if (w->njournal < JOURNAL) {
        uint64_t n = w->njournal++;
        w->jpa[n] = pa;
        w->jsize[n] = (uint32_t)size;
        memcpy(&w->jold[n], w->memory + pa, (size_t)size);
    }
    /* An unaligned store (one across two pages is one) is refused or let through
     * whole, then made byte by byte, each byte coming here or going to its own
     * writable page: only an aligned one is made here (the host is little-endian). */
    if ((pa & (uint64_t)(size - 1)) == 0)
        memcpy(w->memory + pa, &value, (size_t)size);
    return 1;
}
