/* Exercises: function pointers: const and writable tables of function pointers, callbacks, function pointers stored in structs. */

typedef unsigned int (*binop_fn)(unsigned int, unsigned int);

static unsigned int op_add(unsigned int a, unsigned int b) { return a + b; }
static unsigned int op_sub(unsigned int a, unsigned int b) { return a - b; }
static unsigned int op_mul(unsigned int a, unsigned int b) { return a * b; }
static unsigned int op_xor(unsigned int a, unsigned int b) { return a ^ b; }
static unsigned int op_and(unsigned int a, unsigned int b) { return a & b; }
static unsigned int op_or(unsigned int a, unsigned int b) { return a | b; }
static unsigned int op_shl(unsigned int a, unsigned int b) { return a << (b & 31u); }
static unsigned int op_rot(unsigned int a, unsigned int b)
{
    b &= 31u;
    return b ? (a << b) | (a >> (32u - b)) : a;
}

static const binop_fn const_table[8] = {
    op_add, op_sub, op_mul, op_xor, op_and, op_or, op_shl, op_rot
};

/* writable table: entries are overwritten at run time */
static binop_fn live_table[8];

struct handler {
    const char *name;
    binop_fn fn;
    unsigned int calls;
};

static struct handler handlers[4];

static unsigned int apply_all(binop_fn f, const unsigned int *v, int n, unsigned int acc)
{
    int i;
    for (i = 0; i < n; i++)
        acc = f(acc, v[i]);
    return acc;
}

static unsigned int square(unsigned int x) { return x * x; }
static unsigned int twice(unsigned int x) { return x + x; }
static unsigned int inc(unsigned int x) { return x + 1u; }

/* function returning a function pointer */
static unsigned int (*pick_unary(int k))(unsigned int)
{
    switch (k % 3) {
    case 0: return square;
    case 1: return twice;
    default: return inc;
    }
}

static unsigned int values[16];

int main(void)
{
    unsigned int h = 0x811c9dc5u;
    unsigned int seed = 12345u;
    int i, round;

    for (i = 0; i < 16; i++) {
        seed = seed * 1103515245u + 12345u;
        values[i] = seed >> 8;
    }

    for (i = 0; i < 8; i++)
        live_table[i] = const_table[7 - i];

    handlers[0].name = "add"; handlers[0].fn = op_add;
    handlers[1].name = "mul"; handlers[1].fn = op_mul;
    handlers[2].name = "xor"; handlers[2].fn = op_xor;
    handlers[3].name = "rot"; handlers[3].fn = op_rot;

    for (round = 0; round < 20; round++) {
        for (i = 0; i < 16; i++) {
            seed = seed * 1103515245u + 12345u;
            h = const_table[(seed >> 16) & 7u](h, values[i]);
            h = live_table[(seed >> 20) & 7u](h, seed);
        }
        /* rewrite part of the writable table */
        live_table[round & 7] = const_table[(unsigned int)round * 3u & 7u];

        for (i = 0; i < 4; i++) {
            struct handler *hd = &handlers[(unsigned int)(i + round) & 3u];
            h = hd->fn(h, (unsigned int)hd->name[0] + (unsigned int)round);
            hd->calls++;
        }

        h = apply_all(const_table[round & 7], values, 16, h) * 16777619u;
        h ^= pick_unary(round)(h);
    }

    for (i = 0; i < 4; i++)
        h = h * 31u + handlers[i].calls;

    return (int)h;
}
