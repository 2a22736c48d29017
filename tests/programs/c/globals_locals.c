/* Exercises: globals (data and bss) and locals of char/short/int/long: stores of every width, sign/zero extension. */

signed char g_sc = -5;
unsigned char g_uc = 200;
short g_s = -1234;
unsigned short g_us = 60000;
int g_i = -100000;
unsigned int g_ui = 3000000000u;
long g_l = -5000000000L;
unsigned long g_ul = 0x123456789abcdef0UL;

/* zero-initialised (bss) globals */
signed char z_sc;
unsigned char z_uc;
short z_s;
unsigned short z_us;
int z_i;
unsigned int z_ui;
long z_l;
unsigned long z_ul;

static unsigned long mix(unsigned long h, unsigned long v)
{
    h ^= v;
    h *= 0x100000001b3UL;
    return h ^ (h >> 29);
}

__attribute__((noinline)) static unsigned long fold_globals(unsigned long h)
{
    h = mix(h, (unsigned long)(long)g_sc);
    h = mix(h, g_uc);
    h = mix(h, (unsigned long)(long)g_s);
    h = mix(h, g_us);
    h = mix(h, (unsigned long)(long)g_i);
    h = mix(h, g_ui);
    h = mix(h, (unsigned long)g_l);
    h = mix(h, g_ul);
    h = mix(h, (unsigned long)(long)z_sc);
    h = mix(h, z_uc);
    h = mix(h, (unsigned long)(long)z_s);
    h = mix(h, z_us);
    h = mix(h, (unsigned long)(long)z_i);
    h = mix(h, z_ui);
    h = mix(h, (unsigned long)z_l);
    h = mix(h, z_ul);
    return h;
}

int main(void)
{
    /* volatile locals are kept in stack memory even at -O2 */
    volatile signed char lsc = 100;
    volatile unsigned char luc = 250;
    volatile short ls = 32000;
    volatile unsigned short lus = 65530;
    volatile int li = 2000000000;
    volatile unsigned int lui = 4000000000u;
    volatile long ll = 9000000000000000000L;
    volatile unsigned long lul = 18000000000000000000UL;
    unsigned long h = 14695981039346656037UL;
    int k;

    h = fold_globals(h);

    for (k = 0; k < 40; k++) {
        /* narrow stores wrap around; conversions are done on unsigned values */
        lsc = (signed char)(unsigned char)((unsigned char)lsc + 7u);
        luc = (unsigned char)(luc + 3u);
        ls = (short)(unsigned short)((unsigned short)ls + 1021u);
        lus = (unsigned short)(lus + 777u);
        li = (int)((unsigned int)li + 123456789u);
        lui = lui * 3u + 1u;
        ll = (long)((unsigned long)ll + 0x0123456789abcdefUL);
        lul = lul * 6364136223846793005UL + 1442695040888963407UL;

        /* copy locals into globals of the same and different widths */
        g_sc = lsc;
        g_uc = luc;
        g_s = ls;
        g_us = lus;
        g_i = li;
        g_ui = lui;
        g_l = ll;
        g_ul = lul;

        z_sc = (signed char)luc;      /* unsigned -> signed narrow */
        z_uc = (unsigned char)lsc;    /* signed -> unsigned narrow */
        z_s = (short)lsc;             /* sign extension */
        z_us = luc;                   /* zero extension */
        z_i = ls;                     /* sign extension */
        z_ui = lus;                   /* zero extension */
        z_l = li;                     /* sign extension 32->64 */
        z_ul = lui;                   /* zero extension 32->64 */

        h = fold_globals(h);
        h = mix(h, (unsigned long)(long)lsc + luc + (unsigned long)(long)ls + lus);
        h = mix(h, (unsigned long)(long)li + lui + (unsigned long)ll + lul);
    }

    return (int)(unsigned int)(h ^ (h >> 32));
}
