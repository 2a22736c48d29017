/* Exercises: the atomic builtins gcc turns into lock-prefixed instructions (lock xadd,
 * lock cmpxchg, lock add/or/and, xchg) on globals, the stack and an array. */

static int counter;
static long flags;
static unsigned char bytes[16];

static int spin_add(int *p, int v)
{
    int old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(p, &old, old + v, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
        ;
    return old;
}

int main(void)
{
    int local = 5;
    long total = 0;
    for (int i = 0; i < 40; i++) {
        total += __atomic_fetch_add(&counter, i, __ATOMIC_SEQ_CST);
        __atomic_fetch_or(&flags, 1L << (i % 60), __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&bytes[i % 16], 3, __ATOMIC_SEQ_CST);
        total += spin_add(&local, i);
        total ^= __atomic_exchange_n(&counter, counter + 1, __ATOMIC_SEQ_CST);
    }
    __atomic_fetch_and(&flags, 0x0f0f0f0f0fL, __ATOMIC_SEQ_CST);
    __sync_fetch_and_sub(&counter, 7);
    for (int i = 0; i < 16; i++)
        total += bytes[i] * (i + 1);
    return (int)((total + counter + local + flags) & 0x7f);
}
