/* Exercises: recursion and deep call stacks: fib, ackermann (small), gcd, mutual recursion, hanoi recording into arrays. */

static int fib(int n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static unsigned int ack(unsigned int m, unsigned int n)
{
    if (m == 0)
        return n + 1;
    if (n == 0)
        return ack(m - 1, 1);
    return ack(m - 1, ack(m, n - 1));
}

static unsigned int gcd(unsigned int a, unsigned int b)
{
    return b == 0 ? a : gcd(b, a % b);
}

static int is_odd(unsigned int n);

static int is_even(unsigned int n)
{
    return n == 0 ? 1 : is_odd(n - 1);
}

static int is_odd(unsigned int n)
{
    return n == 0 ? 0 : is_even(n - 1);
}

static unsigned char moves[256][2];
static int nmoves;

static void hanoi(int n, int from, int to, int via)
{
    if (n == 0)
        return;
    hanoi(n - 1, from, via, to);
    moves[nmoves][0] = (unsigned char)from;
    moves[nmoves][1] = (unsigned char)to;
    nmoves++;
    hanoi(n - 1, via, to, from);
}

/* recursion with a local array in each frame */
static unsigned int frames(int depth, unsigned int seed)
{
    unsigned int local[8];
    unsigned int s = 0;
    int i;
    for (i = 0; i < 8; i++)
        local[i] = seed * (unsigned int)(i + 1) + (unsigned int)depth;
    if (depth > 0)
        local[depth & 7] ^= frames(depth - 1, seed * 1103515245u + 12345u);
    for (i = 0; i < 8; i++)
        s = s * 33u + local[i];
    return s;
}

static unsigned long power(unsigned long base, unsigned int e)
{
    unsigned long half;
    if (e == 0)
        return 1;
    half = power(base, e / 2);
    return (e & 1) ? half * half * base : half * half;
}

int main(void)
{
    unsigned int h = 0;
    int i;
    unsigned long p;

    h = h * 131u + (unsigned int)fib(15);
    h = h * 131u + ack(2, 3);
    h = h * 131u + ack(3, 2);
    for (i = 1; i < 30; i++)
        h = h * 131u + gcd((unsigned int)i * 1071u, 462u + (unsigned int)i);
    h = h * 131u + (unsigned int)is_even(77) + 2u * (unsigned int)is_odd(120);
    hanoi(7, 0, 2, 1);
    h = h * 131u + (unsigned int)nmoves;
    for (i = 0; i < nmoves; i++)
        h = h * 131u + moves[i][0] * 3u + moves[i][1];
    h = h * 131u + frames(40, 7u);
    p = power(3, 37);
    h = h * 131u + (unsigned int)(p ^ (p >> 32));

    return (int)h;
}
