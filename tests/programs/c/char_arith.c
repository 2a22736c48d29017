/* Exercises: signed and unsigned char arithmetic: promotions, wraparound on store, sign/zero extension, comparisons, shifts. */

static signed char sbuf[64];
static unsigned char ubuf[64];
static char text[] = "Hello, \x80\xff\x7f World! ~\x01";

static int sat_add(signed char a, signed char b)
{
    int r = a + b;                 /* promoted to int: no overflow */
    if (r > 127) r = 127;
    if (r < -128) r = -128;
    return r;
}

static unsigned char rotl8(unsigned char v, int n)
{
    return (unsigned char)((v << n) | (v >> (8 - n)));
}

int main(void)
{
    unsigned int h = 0;
    int i, round;
    signed char sc = -100;
    unsigned char uc = 100;

    for (i = 0; i < 64; i++) {
        sbuf[i] = (signed char)(unsigned char)(i * 37 + 11);
        ubuf[i] = (unsigned char)(i * 53 + 7);
    }

    for (round = 0; round < 10; round++) {
        for (i = 0; i < 64; i++) {
            signed char a = sbuf[i];
            unsigned char b = ubuf[i];
            int mixed = a * b;                     /* signed * unsigned char, both promoted to int */
            sbuf[i] = (signed char)sat_add(a, (signed char)(round - 5));
            ubuf[i] = (unsigned char)(b + (unsigned char)a);  /* wraps modulo 256 */
            h = h * 37u + (unsigned int)mixed;
            h ^= (a < 0) ? 0x1000u : 0x10u;         /* sign-dependent compare */
            h += (b > 128) ? 3u : 5u;
            h += (unsigned int)(a >> 2);            /* arithmetic shift of negative */
            h += (unsigned int)(b >> 3);
            h += rotl8(b, (i & 6) + 1);
        }
        sc = (signed char)(unsigned char)((unsigned char)sc - 29u);
        uc = (unsigned char)(uc * 7u + 1u);
        h = h * 37u + (unsigned int)(int)sc + uc;
        h = h * 37u + (unsigned int)(sc == (signed char)uc);
    }

    /* plain char (signed on x86-64) versus explicit unsigned view */
    for (i = 0; text[i] != 0; i++) {
        char c = text[i];
        unsigned char u = (unsigned char)text[i];
        h = h * 37u + (unsigned int)(int)c + u;
        h = h * 37u + (unsigned int)(c < 0);
        if (c >= 'a' && c <= 'z')
            text[i] = (char)(c - 'a' + 'A');
        else if (c < 0)
            text[i] = (char)(~u & 0x7f);
    }
    for (i = 0; text[i] != 0; i++)
        h = h * 37u + (unsigned char)text[i];

    return (int)h;
}
