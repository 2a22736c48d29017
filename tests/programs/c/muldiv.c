/* Exercises: multiply/divide/modulo of every width, signed and unsigned (mul/imul/div/idiv, cqo/cdq sign extension), and 64-bit shifts. */

static volatile int vi[8] = { 1000000007, -999999937, 123456, -7, 65536, -1, 31, 2147483647 };
static volatile unsigned int vu[8] = { 4000000000u, 3u, 77777u, 1u, 0x80000000u, 10u, 999u, 0xffffffffu };
static volatile long vl[6] = { 9000000000000000000L, -1234567890123L, 42L, -9L, 1L << 40, -1L };
static volatile unsigned long vul[6] = { 18000000000000000000UL, 3UL, 0xdeadbeefcafeUL, 7UL, 1UL << 63, 1000000007UL };
static volatile short vs[4] = { -32768, 32767, -5, 300 };
static volatile unsigned char vc[4] = { 255, 7, 128, 3 };

static long results[64];
static int nres;

static void record(long v)
{
    results[nres++ & 63] = v;
}

int main(void)
{
    unsigned long h = 0;
    int i, j;

    for (i = 0; i < 8; i++)
        for (j = 0; j < 8; j++) {
            int a = vi[i], b = vi[j];
            unsigned int ua = vu[i], ub = vu[j];
            if (b != 0 && !(b == -1 && a == -2147483647 - 1)) {
                record(a / b);
                record(a % b);
            }
            record((long)a * b);
            record((long)(unsigned int)((unsigned int)a * (unsigned int)b));
            record(ua / ub);
            record(ua % ub);
            record((long)((unsigned long)ua * ub));
            h = h * 1099511628211UL + (unsigned long)results[(nres - 1) & 63] + (unsigned long)results[(nres - 3) & 63];
        }

    for (i = 0; i < 6; i++)
        for (j = 0; j < 6; j++) {
            long a = vl[i], b = vl[j];
            unsigned long ua = vul[i], ub = vul[j];
            record(a / b);
            record(a % b);
            record((long)(ua / ub));
            record((long)(ua % ub));
            record((long)((unsigned long)a * (unsigned long)b));
            record((long)(ua >> (j * 11)));
            record(a >> (i * 10));           /* arithmetic shift */
            record((long)(ua << (i * 12)));
            h = (h * 1099511628211UL + (unsigned long)results[(nres - 1) & 63]) ^ (unsigned long)results[(nres - 5) & 63];
        }

    for (i = 0; i < 4; i++)
        for (j = 0; j < 4; j++) {
            short a = vs[i], b = vs[j];
            unsigned char ca = vc[i], cb = vc[j];
            record(a / b);
            record(a % b);
            record((short)(a * b));
            record(ca / cb);
            record(ca % cb);
            record((unsigned char)(ca * cb));
            h = h * 1099511628211UL + (unsigned long)results[(nres - 2) & 63];
        }

    for (i = 0; i < 64; i++)
        h = (h ^ (unsigned long)results[i]) * 1099511628211UL;
    h += (unsigned long)nres;

    return (int)(unsigned int)(h ^ (h >> 32));
}
