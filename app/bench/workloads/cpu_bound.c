/* Benchmark workload: CPU-bound integer arithmetic in registers (Collatz lengths and an xorshift/multiply hash), almost no memory writes. */

#define LIMIT 3000u
#define HASH_ROUNDS 100000u

int main(void)
{
    unsigned long total = 0;
    unsigned long best_n = 1, best_len = 0;
    unsigned long n;
    unsigned long x = 0x2545f4914f6cdd1dUL;
    unsigned int k;

    for (n = 1; n <= LIMIT; n++) {
        unsigned long v = n;
        unsigned long len = 0;
        while (v != 1) {
            if (v & 1)
                v = 3 * v + 1;
            else
                v >>= 1;
            len++;
        }
        total += len;
        if (len > best_len) {
            best_len = len;
            best_n = n;
        }
    }

    for (k = 0; k < HASH_ROUNDS; k++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x = x * 0x2545f4914f6cdd1dUL + k;
    }

    total = total * 1000003UL + best_n * 1009UL + best_len;
    total ^= x;
    return (int)(unsigned int)(total ^ (total >> 32));
}
