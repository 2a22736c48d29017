/* Benchmark workload: stressful sequential write - repeatedly fill a 64 KiB static buffer with 64-bit word stores. */

#define BUF_BYTES 65536
#define WORDS (BUF_BYTES / 8)
#define PASSES 96

static unsigned long buf[WORDS];

int main(void)
{
    unsigned long v = 0x9e3779b97f4a7c15UL;
    unsigned long h = 1469598103934665603UL;
    unsigned long pass;
    unsigned long i;

    for (pass = 0; pass < PASSES; pass++) {
        /* four stores per iteration; the multiplicative recurrence keeps the
           stores scalar (no vectorisation, no memset) */
        for (i = 0; i < WORDS; i += 4) {
            buf[i] = v;
            buf[i + 1] = v ^ pass;
            buf[i + 2] = v + i;
            buf[i + 3] = ~v;
            v = v * 6364136223846793005UL + 1442695040888963407UL;
        }
        /* touch one word per pass so every pass is observable */
        h = (h ^ buf[(pass * 97) & (WORDS - 1)]) * 1099511628211UL;
    }

    /* final checksum over the whole buffer */
    for (i = 0; i < WORDS; i++)
        h = (h ^ buf[i]) * 1099511628211UL;

    return (int)(unsigned int)(h ^ (h >> 32));
}
