/* Exercises: bitfields (signed/unsigned, straddling bytes) read-modify-write in globals, arrays and locals. */

void *memcpy(void *d, const void *s, unsigned long n);

struct flags {
    unsigned int a : 3;
    unsigned int b : 5;
    unsigned int c : 12;
    signed int d : 7;
    unsigned int e : 1;
    unsigned int f : 4;
};

struct packed_mix {
    unsigned char kind : 2;
    unsigned char level : 6;
    unsigned short x : 10;
    signed short y : 6;
    unsigned long big : 40;
    unsigned long small : 24;
};

static struct flags table[32];
static struct packed_mix mixes[16];
static struct flags gflag = { 5, 17, 3000, -20, 1, 9 };

static unsigned int raw_word(const struct flags *f)
{
    unsigned int w;
    memcpy(&w, f, sizeof w);
    return w;
}

static unsigned int hash_flags(const struct flags *f, unsigned int h)
{
    h = (h ^ f->a) * 16777619u;
    h = (h ^ f->b) * 16777619u;
    h = (h ^ f->c) * 16777619u;
    h = (h ^ (unsigned int)f->d) * 16777619u;
    h = (h ^ f->e) * 16777619u;
    h = (h ^ f->f) * 16777619u;
    return h;
}

int main(void)
{
    unsigned int h = 2166136261u;
    unsigned int seed = 7u;
    int i, round;

    for (round = 0; round < 8; round++) {
        for (i = 0; i < 32; i++) {
            struct flags *f = &table[i];
            seed = seed * 1103515245u + 12345u;
            f->a = seed >> 5;
            f->b += seed >> 9;
            f->c ^= seed >> 13;
            f->d = (int)((seed >> 17) & 127u) - 64;
            f->e = !f->e;
            f->f -= 3;
        }
        for (i = 0; i < 32; i++) {
            h = hash_flags(&table[i], h);
            /* raw word observes the layout: only defined bits are compared */
            h = (h ^ (raw_word(&table[i]) & 0xffffffffu)) * 16777619u;
        }

        for (i = 0; i < 16; i++) {
            struct packed_mix *m = &mixes[i];
            m->kind += 1;
            m->level = (unsigned char)(m->level + (unsigned int)i * 5u);
            m->x = (unsigned short)(m->x * 3u + (unsigned int)round);
            m->y = (short)(i - 8 - round % 3);
            m->big += 0x123456789UL * (unsigned long)(i + 1);
            m->small = m->small * 5u + 77u;
        }
        for (i = 0; i < 16; i++) {
            const struct packed_mix *m = &mixes[i];
            h = (h ^ m->kind) * 16777619u;
            h = (h ^ m->level) * 16777619u;
            h = (h ^ m->x) * 16777619u;
            h = (h ^ (unsigned int)m->y) * 16777619u;
            h = (h ^ (unsigned int)(m->big ^ (m->big >> 20))) * 16777619u;
            h = (h ^ (unsigned int)m->small) * 16777619u;
        }

        gflag.c += 7;
        gflag.d--;
        gflag.a <<= 1;
        gflag.b |= (unsigned int)round;
        h = hash_flags(&gflag, h);

        {
            struct flags local = gflag;
            local.e ^= 1;
            local.f = (unsigned int)round;
            h = hash_flags(&local, h);
        }
    }

    return (int)h;
}
