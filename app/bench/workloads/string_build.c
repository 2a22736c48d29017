/* Benchmark workload: build strings into a buffer by hand - itoa plus concatenation, with a checksum of the text. */

#define BUF_SIZE 65536
#define ENTRIES 3000

static char out[BUF_SIZE];
static char num[32];

static int itoa_dec(long v, char *s)
{
    char tmp[24];
    int n = 0, len = 0;
    unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10UL));
        u /= 10UL;
    } while (u);
    if (v < 0)
        s[len++] = '-';
    while (n > 0)
        s[len++] = tmp[--n];
    s[len] = 0;
    return len;
}

static int itoa_hex(unsigned int v, char *s)
{
    static const char digits[] = "0123456789abcdef";
    int i;
    for (i = 0; i < 8; i++)
        s[i] = digits[(v >> (28 - 4 * i)) & 15u];
    s[8] = 0;
    return 8;
}

/* append returns the new end so concatenation is linear */
static char *append(char *end, const char *s)
{
    while ((*end = *s++) != 0)
        end++;
    return end;
}

static unsigned int hash_range(const char *s, const char *e, unsigned int h)
{
    while (s < e)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

int main(void)
{
    unsigned int seed = 20240601u;
    unsigned int h = 2166136261u;
    unsigned long total = 0;
    char *end = out;
    int i;

    out[0] = 0;
    for (i = 0; i < ENTRIES; i++) {
        long v;
        seed = seed * 1103515245u + 12345u;
        v = (long)(int)seed / 3;

        if (end - out > BUF_SIZE - 128) {
            /* flush: checksum the buffer and start over */
            h = hash_range(out, end, h);
            total += (unsigned long)(end - out);
            end = out;
            *end = 0;
        }
        end = append(end, "item ");
        itoa_dec(i, num);
        end = append(end, num);
        end = append(end, ": value=");
        itoa_dec(v, num);
        end = append(end, num);
        end = append(end, " hex=0x");
        itoa_hex(seed, num);
        end = append(end, num);
        end = append(end, (i & 1) ? ";\n" : ", ");
    }
    h = hash_range(out, end, h);
    total += (unsigned long)(end - out);

    return (int)(h ^ (unsigned int)total);
}
