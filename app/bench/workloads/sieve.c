/* Benchmark workload: sieve of Eratosthenes over a static byte array. */

#define LIMIT 200000

static unsigned char composite[LIMIT + 1];

int main(void)
{
    unsigned int i, j;
    unsigned int count = 0;
    unsigned int h = 2166136261u;
    unsigned int last = 0;

    for (i = 0; i <= LIMIT; i++)
        composite[i] = 0;
    composite[0] = composite[1] = 1;

    for (i = 2; i * i <= LIMIT; i++)
        if (!composite[i])
            for (j = i * i; j <= LIMIT; j += i)
                composite[j] = 1;

    for (i = 2; i <= LIMIT; i++)
        if (!composite[i]) {
            count++;
            h = (h ^ (i - last)) * 16777619u;   /* prime gaps */
            last = i;
        }

    /* pi(200000) = 17984 */
    return (int)(h ^ (count << 8) ^ last);
}
