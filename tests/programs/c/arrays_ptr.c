/* Exercises: arrays of char/short/int/long and pointer arithmetic (increments, differences, backwards walks, indexed stores). */

static unsigned char bytes[64];
static short halves[48];
static int words[40];
static long quads[32];

static unsigned int sum_bytes(const unsigned char *p, const unsigned char *end)
{
    unsigned int s = 0;
    while (p < end)
        s = s * 31u + *p++;
    return s;
}

static void fill_ints(int *dst, int n, int start, int step)
{
    int *end = dst + n;
    while (dst != end) {
        *dst++ = start;
        start += step;
    }
}

static void reverse_longs(long *a, long n)
{
    long *lo = a, *hi = a + n - 1;
    while (lo < hi) {
        long t = *lo;
        *lo++ = *hi;
        *hi-- = t;
    }
}

static void scatter_shorts(short *base, int stride, int count, short v)
{
    short *p = base;
    int i;
    for (i = 0; i < count; i++, p += stride)
        *p = (short)(v + i);
}

int main(void)
{
    unsigned int h = 2166136261u;
    int i, round;
    long *lp;
    int *ip;
    char *cp_start, *cp_end;
    int local[16];

    for (round = 0; round < 6; round++) {
        /* byte array through pointer increments */
        unsigned char *bp = bytes;
        for (i = 0; i < 64; i++)
            *bp++ = (unsigned char)(i * 7 + round * 13);
        h ^= sum_bytes(bytes, bytes + 64);
        h *= 16777619u;

        /* int array via helper and via negative offsets */
        fill_ints(words, 40, round - 20, 3);
        ip = &words[39];
        for (i = 0; i < 20; i++)
            ip[-i] += ip[-39 + i];
        for (i = 0; i < 40; i++)
            h = (h ^ (unsigned int)words[i]) * 16777619u;

        /* long array: fill, reverse, sum via pointer difference */
        for (i = 0; i < 32; i++)
            quads[i] = (long)i * 1000000007L - 16000000000L + round;
        reverse_longs(quads, 32);
        for (lp = quads; lp < quads + 32; lp += 3)
            h = (h ^ (unsigned int)(unsigned long)*lp ^ (unsigned int)(lp - quads)) * 16777619u;

        /* strided short stores */
        scatter_shorts(halves, 3, 16, (short)(-100 * round));
        scatter_shorts(halves + 1, 5, 9, (short)(1000 + round));
        for (i = 0; i < 48; i++)
            h = (h ^ (unsigned int)(unsigned short)halves[i]) * 16777619u;

        /* local array with pointer to pointer element writes */
        for (i = 0; i < 16; i++)
            local[i] = i * i - round;
        {
            int *pa = local, *pb = local + 15;
            while (pb - pa > 0) {
                *pa += *pb;
                *pb -= *pa;
                pa++;
                pb--;
            }
        }
        for (i = 0; i < 16; i++)
            h = (h ^ (unsigned int)local[i]) * 16777619u;
    }

    /* pointer difference across char pointers */
    cp_start = (char *)&quads[3];
    cp_end = (char *)&quads[29];
    h += (unsigned int)(cp_end - cp_start);

    return (int)h;
}
