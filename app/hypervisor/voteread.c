/* NMR-3's read hook, the fast path: a read that needs no vote returns here without
 * calling up to Python (app/hypervisor/voting.py). Python's voter (recovery.py's
 * read_voter) is called for every read it could act on: a native instruction reading
 * a word whose three copies differ, and any native read of a voted page while an error
 * is pending. Everything else -- reads of pages that are not voted, of words whose
 * copies agree (checked first: it needs no register read), and, where copies differ,
 * reads by mirror, save and restore instructions -- is what the Python voter would
 * have left alone.
 *
 * copies_differ() decides whether a run needs the hook at all (voting.py): while it is
 * installed every load of the run leaves the emulated CPU's fast path. */
#include <stdint.h>
#include <string.h>

typedef struct {
    uint8_t *memory;            /* the machine memory the engine maps */
    uint64_t size;
    uint64_t nframes;
    uint32_t *frames;           /* per machine frame: native, mirror 1, mirror 2 (0: not voted) */
    uint64_t code_lo, code_hi;  /* the VM's code addresses [lo, hi) */
    uint8_t *voter;             /* per code address: nonzero where a native instruction is */
    uint64_t pending;           /* an error is pending: every voted read goes to Python */
    int (*reg_read)(void *uc, int regid, void *value);
    int rip_id;
    void (*slow)(void *uc, int type, uint64_t pa, int size, int64_t value);
} vote_t;

void on_read(void *uc, int type, uint64_t pa, int size, int64_t value, vote_t *v) {
    uint64_t frame = pa >> 12;
    if (frame >= v->nframes)
        return;
    const uint32_t *t = &v->frames[3 * frame];
    if (!t[0])
        return;
    if (!v->pending) {
        /* copies that agree need nothing, whoever reads them: the Python voter
         * would leave them alone too (a rep store skips words, never adds any) */
        uint64_t first = (pa & 0xFFF) & ~7ULL;
        uint64_t last = ((pa & 0xFFF) + (uint64_t)size - 1) & ~7ULL;
        if (last > 0xFF8)
            last = 0xFF8;
        const uint8_t *m = v->memory;
        int differ = 0;
        for (uint64_t w = first; w <= last && !differ; w += 8) {
            const uint8_t *a = m + ((uint64_t)t[0] << 12) + w;
            differ = memcmp(a, m + ((uint64_t)t[1] << 12) + w, 8) ||
                     memcmp(a, m + ((uint64_t)t[2] << 12) + w, 8);
        }
        if (!differ)
            return;
    }
    /* copies that differ, or an error pending: only a native instruction's read votes */
    uint64_t rip = 0;
    v->reg_read(uc, v->rip_id, &rip);
    if (rip < v->code_lo || rip >= v->code_hi || !v->voter[rip - v->code_lo])
        return;
    v->slow(uc, type, pa, size, value);
}

/* Whether some word of a voted page differs between its three copies, the word at
 * machine address `skip` left out (a return address in flight at a function's entry;
 * ~0: none). Each page is compared once, by its native frame. */
int copies_differ(const vote_t *v, uint64_t skip) {
    const uint8_t *m = v->memory;
    for (uint64_t f = 1; f < v->nframes; f++) {
        const uint32_t *t = &v->frames[3 * f];
        if (t[0] != f)
            continue;
        const uint8_t *a = m + (f << 12);
        const uint8_t *b = m + ((uint64_t)t[1] << 12), *c = m + ((uint64_t)t[2] << 12);
        if (!memcmp(a, b, 4096) && !memcmp(a, c, 4096))
            continue;
        if (skip >> 12 != f)
            return 1;
        for (uint64_t w = 0; w < 4096; w += 8)
            if ((f << 12) + w != skip && (memcmp(a + w, b + w, 8) || memcmp(a + w, c + w, 8)))
                return 1;
    }
    return 0;
}
