/* Exercises: structs copied by value (rep movs / memcpy), struct return via hidden pointer, struct initialisation (memset / rep stos). */

void *memcpy(void *d, const void *s, unsigned long n);
void *memset(void *d, int c, unsigned long n);

struct small {
    char a;
    short b;
    int c;
};

struct big {
    int id;
    long vals[20];
    char name[24];
    short tag;
    struct small inner;
};

static struct big pool[6];
static struct big global_template = { 7, { 1, 2, 3 }, "template", 99, { 'x', 2, 3 } };

static unsigned int hash_bytes(const void *p, unsigned long n, unsigned int h)
{
    const unsigned char *c = (const unsigned char *)p;
    unsigned long i;
    for (i = 0; i < n; i++)
        h = (h ^ c[i]) * 16777619u;
    return h;
}

static unsigned int hash_big(const struct big *b, unsigned int h)
{
    int i;
    h = (h ^ (unsigned int)b->id) * 16777619u;
    for (i = 0; i < 20; i++)
        h = (h ^ (unsigned int)(unsigned long)b->vals[i]) * 16777619u;
    h = hash_bytes(b->name, sizeof b->name, h);
    h = (h ^ (unsigned int)(unsigned short)b->tag) * 16777619u;
    h = (h ^ (unsigned int)(unsigned char)b->inner.a) * 16777619u;
    h = (h ^ (unsigned int)(unsigned short)b->inner.b) * 16777619u;
    h = (h ^ (unsigned int)b->inner.c) * 16777619u;
    return h;
}

/* returned by value: caller passes a hidden pointer */
__attribute__((noinline)) static struct big make_big(int id)
{
    struct big b = { 0 };   /* zero initialisation of a large local */
    int i;
    b.id = id;
    for (i = 0; i < 20; i++)
        b.vals[i] = (long)id * 100 + i;
    b.name[0] = 'n';
    b.name[1] = (char)('0' + id % 10);
    b.tag = (short)(id * 3);
    b.inner.a = (char)id;
    b.inner.b = (short)(id * 7);
    b.inner.c = id * 11;
    return b;
}

/* passed by value (copied onto the stack) and returned by value */
__attribute__((noinline)) static struct big bump(struct big b, int delta)
{
    int i;
    b.id += delta;
    for (i = 0; i < 20; i += 2)
        b.vals[i] -= delta;
    b.inner.c ^= delta;
    return b;
}

/* small struct passed and returned in registers */
__attribute__((noinline)) static struct small twiddle(struct small s)
{
    s.a = (char)(s.a + 1);
    s.b = (short)(s.b * 2);
    s.c = s.c - s.b;
    return s;
}

int main(void)
{
    unsigned int h = 2166136261u;
    struct big tmp, other;
    struct small s = { 1, 2, 3 };
    struct small sarr[4];
    int i, round;

    for (round = 0; round < 3; round++) {
        for (i = 0; i < 6; i++) {
            tmp = make_big(i + round * 6);
            pool[i] = bump(tmp, round + 1);     /* struct assignment into a global array */
        }
        other = pool[round];                    /* struct assignment to a local */
        other.name[5] = 'Z';
        pool[5 - round] = other;
        for (i = 0; i < 6; i++)
            h = hash_big(&pool[i], h);

        /* designated initialiser: remaining members are zeroed */
        {
            struct big d = { .id = 42 + round, .tag = 5 };
            d.vals[19] = round;
            h = hash_big(&d, h);
        }

        /* explicit memcpy/memset */
        memcpy(&tmp, &global_template, sizeof tmp);
        tmp.vals[10] = round;
        h = hash_big(&tmp, h);
        memset(&tmp, 0xA5, sizeof tmp);
        h = hash_big(&tmp, h);
        memset(&pool[2], 0, sizeof pool[2]);
        h = hash_big(&pool[2], h);
        global_template.vals[round] += 1000;

        /* small structs by value */
        for (i = 0; i < 4; i++) {
            s = twiddle(s);
            sarr[i] = s;
        }
        sarr[0] = sarr[3];
        for (i = 0; i < 4; i++)
            h = (h ^ (unsigned int)(sarr[i].a + sarr[i].b + sarr[i].c)) * 16777619u;
    }

    return (int)h;
}
