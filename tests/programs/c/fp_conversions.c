/* Floating-point conversions whose answers depend on the FPU state a program starts
   in: long double <-> 64-bit integers (gcc saves the x87 control word, changes the
   rounding, and reloads the saved word), float/double <-> integers, SSE rounding
   modes set and restored by the program itself. Returns a checksum. */

static volatile unsigned long long big = ~0ULL;
static volatile long double third = 1.0L / 3.0L;
static volatile double halves[] = {0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1e18, -7.75};
static volatile float floats[] = {16777217.0f, -3.9f, 2147483520.0f, 0.1f};

static unsigned mix(unsigned h, unsigned long long v) {
    h ^= (unsigned)v ^ (unsigned)(v >> 32);
    return h * 16777619u + 0x9e3779b9u;
}

static long long rounded(double d, unsigned mode) {
    unsigned saved, changed;
    long long out;
    __asm__ volatile("stmxcsr %0" : "=m"(saved));
    changed = (saved & ~0x6000u) | (mode << 13);
    __asm__ volatile("ldmxcsr %0" : : "m"(changed));
    __asm__ volatile("cvtsd2si %1, %0" : "=r"(out) : "x"(d));
    __asm__ volatile("ldmxcsr %0" : : "m"(saved));
    return out;
}

int main(void) {
    unsigned h = 2166136261u;
    long double b = (long double)big;            /* exact in 64 bits of mantissa */
    h = mix(h, (unsigned long long)b);           /* 2^64 - 1 back, not 2^64 */
    h = mix(h, (unsigned long long)(b / 2));
    h = mix(h, (long long)(third * 3e18L));
    h = mix(h, (unsigned long long)(long double)0x8000000000000001ULL);
    for (int i = 0; i < 8; i++) {
        h = mix(h, (long long)halves[i]);        /* truncation */
        for (unsigned m = 0; m < 4; m++)         /* nearest, down, up, toward zero */
            h = mix(h, rounded(halves[i], m));
        h = mix(h, (long long)(long double)halves[i] * 3);
    }
    for (int i = 0; i < 4; i++) {
        h = mix(h, (int)floats[i]);
        h = mix(h, (unsigned long long)(double)floats[i]);
        h = mix(h, (long long)(float)(long long)(floats[i] * 1000.0f));
    }
    h = mix(h, (unsigned long long)(double)(big - 1000));   /* rounds to nearest even */
    h = mix(h, (unsigned long long)(float)(big >> 3));
    return (int)(h & 0x7fffffff);
}
