/* Exercises: hand-written string functions (strlen/strcpy/strcat/strcmp/reverse/itoa) on byte buffers, plus puts output. */

int puts(const char *s);
int putchar(int c);

static char buf[256];
static char tmp[64];

static unsigned long my_strlen(const char *s)
{
    const char *p = s;
    while (*p)
        p++;
    return (unsigned long)(p - s);
}

static char *my_strcpy(char *d, const char *s)
{
    char *r = d;
    while ((*d++ = *s++) != 0)
        ;
    return r;
}

static char *my_strcat(char *d, const char *s)
{
    my_strcpy(d + my_strlen(d), s);
    return d;
}

static int my_strcmp(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

static void my_reverse(char *s)
{
    char *e = s + my_strlen(s);
    while (s < --e) {
        char t = *s;
        *s++ = *e;
        *e = t;
    }
}

static char *my_itoa(int v, char *out)
{
    char *p = out;
    unsigned int u = v < 0 ? 0u - (unsigned int)v : (unsigned int)v;
    do {
        *p++ = (char)('0' + u % 10u);
        u /= 10u;
    } while (u);
    if (v < 0)
        *p++ = '-';
    *p = 0;
    my_reverse(out);
    return out;
}

static void to_upper(char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - 32);
}

static unsigned int hash_str(const char *s, unsigned int h)
{
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

int main(void)
{
    static const char *words[] = { "alpha", "beta", "gamma", "delta", "epsilon", "zeta" };
    unsigned int h = 2166136261u;
    int i;

    my_strcpy(buf, "start:");
    for (i = 0; i < 6; i++) {
        my_strcat(buf, words[i]);
        my_strcat(buf, "=");
        my_strcat(buf, my_itoa(i * 1234 - 3000, tmp));
        my_strcat(buf, ";");
    }
    h = hash_str(buf, h);
    h = h * 31u + (unsigned int)my_strlen(buf);

    for (i = 0; i < 6; i++) {
        int c = my_strcmp(words[i], words[(i + 1) % 6]);
        h = h * 31u + (unsigned int)(c < 0 ? 1 : c > 0 ? 2 : 3);
    }
    h = h * 31u + (unsigned int)(my_strcmp("same", "same") == 0);

    my_reverse(buf);
    h = hash_str(buf, h);
    to_upper(buf);
    h = hash_str(buf, h);

    my_itoa(-2147483647 - 1, tmp);
    h = hash_str(tmp, h);

    /* one line of output */
    my_strcpy(tmp, "string_funcs ok ");
    my_itoa((int)(h & 0xffffu), tmp + my_strlen(tmp));
    puts(tmp);
    putchar('.');
    putchar('\n');

    return (int)h;
}
