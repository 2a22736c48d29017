/* Benchmark workload: sequential read - sum a 64 KiB static buffer (initialised once) many times. */

#define BUF_BYTES 65536
#define WORDS (BUF_BYTES / 8)
#define PASSES 64

static unsigned long buf[WORDS];

int main(void)
{
    unsigned long x = 88172645463325252UL;
    unsigned long s = 0;
    unsigned long pass;
    unsigned long i;

    /* initialise once (xorshift64) */
    for (i = 0; i < WORDS; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = x;
    }

    for (pass = 0; pass < PASSES; pass++) {
        /* rotate-and-add: one load per word, order dependent so it stays a
           plain sequential scan */
        for (i = 0; i < WORDS; i++)
            s = ((s << 1) | (s >> 63)) + buf[i];
        s ^= pass;
    }

    return (int)(unsigned int)(s ^ (s >> 32));
}
