/* NMR-3's read hook, the fast path: a read that needs no vote returns here without
 * calling up to Python (app/hypervisor/voting.py). Python's voter (recovery.py's
 * voted_read) is called for every read it would act on: a native instruction reading
 * a word whose three copies differ, any voted read while an error is pending, and the
 * reads of a native rep movs/stos (which must skip the words it stored itself).
 * Everything else -- reads by mirror, save and restore instructions, of pages that are
 * not voted, of words whose copies agree -- is exactly what the Python voter would
 * have left alone. */
#include <stdint.h>
#include <string.h>

typedef struct {
    uint8_t *memory;            /* the machine memory the engine maps */
    uint64_t size;
    uint64_t nframes;
    uint32_t *frames;           /* per machine frame: native, mirror 1, mirror 2 (0: not voted) */
    uint64_t code_lo, code_hi;  /* the VM's code addresses [lo, hi) */
    uint8_t *voter;             /* per code address: 0 not voted, 1 native, 2 rep store */
    uint64_t pending;           /* an error is pending: every voted read goes to Python */
    int (*reg_read)(void *uc, int regid, void *value);
    int rip_id;
    void (*slow)(void *uc, int type, uint64_t pa, int size, int64_t value);
} vote_t;

void on_read(void *uc, int type, uint64_t pa, int size, int64_t value, vote_t *v) {
    uint64_t rip = 0;
    v->reg_read(uc, v->rip_id, &rip);
    if (rip < v->code_lo || rip >= v->code_hi)
        return;
    uint8_t kind = v->voter[rip - v->code_lo];
    if (!kind)
        return;
    uint64_t frame = pa >> 12;
    if (frame >= v->nframes)
        return;
    const uint32_t *t = &v->frames[3 * frame];
    if (!t[0])
        return;
    if (kind == 2 || v->pending) {
        v->slow(uc, type, pa, size, value);
        return;
    }
    uint64_t first = (pa & 0xFFF) & ~7ULL, last = ((pa & 0xFFF) + (uint64_t)size - 1) & ~7ULL;
    if (last > 0xFF8)
        last = 0xFF8;
    for (uint64_t w = first; w <= last; w += 8) {
        const uint8_t *a = v->memory + ((uint64_t)t[0] << 12) + w;
        const uint8_t *b = v->memory + ((uint64_t)t[1] << 12) + w;
        const uint8_t *c = v->memory + ((uint64_t)t[2] << 12) + w;
        if (memcmp(a, b, 8) || memcmp(a, c, 8)) {
            v->slow(uc, type, pa, size, value);
            return;
        }
    }
}
