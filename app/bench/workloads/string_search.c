/* Benchmark workload: string search - naive and KMP search of many patterns in a generated text buffer. */

#define TEXT_LEN 8192
#define NPAT 16
#define MAXPAT 12

static char text[TEXT_LEN + 1];
static char patterns[NPAT][MAXPAT + 1];
static int fail_table[MAXPAT + 1];

static unsigned int naive_count(const char *t, int n, const char *p, int m)
{
    unsigned int count = 0;
    int i, j;
    for (i = 0; i + m <= n; i++) {
        for (j = 0; j < m && t[i + j] == p[j]; j++)
            ;
        if (j == m)
            count++;
    }
    return count;
}

static unsigned int kmp_count(const char *t, int n, const char *p, int m)
{
    unsigned int count = 0;
    int i, k;

    fail_table[0] = 0;
    for (i = 1, k = 0; i < m; i++) {
        while (k > 0 && p[i] != p[k])
            k = fail_table[k - 1];
        if (p[i] == p[k])
            k++;
        fail_table[i] = k;
    }
    for (i = 0, k = 0; i < n; i++) {
        while (k > 0 && t[i] != p[k])
            k = fail_table[k - 1];
        if (t[i] == p[k])
            k++;
        if (k == m) {
            count++;
            k = fail_table[k - 1];
        }
    }
    return count;
}

int main(void)
{
    static const char alphabet[4] = { 'a', 'c', 'g', 't' };
    unsigned int seed = 12345u;
    unsigned int h = 2166136261u;
    int i, j;

    for (i = 0; i < TEXT_LEN; i++) {
        seed = seed * 1103515245u + 12345u;
        text[i] = alphabet[(seed >> 16) & 3u];
    }
    text[TEXT_LEN] = 0;

    /* half the patterns are taken from the text, half are random */
    for (i = 0; i < NPAT; i++) {
        int m = 4 + i % (MAXPAT - 3);
        seed = seed * 1103515245u + 12345u;
        if (i & 1) {
            int pos = (int)((seed >> 8) % (unsigned int)(TEXT_LEN - MAXPAT));
            for (j = 0; j < m; j++)
                patterns[i][j] = text[pos + j];
        } else {
            for (j = 0; j < m; j++) {
                seed = seed * 1103515245u + 12345u;
                patterns[i][j] = alphabet[(seed >> 16) & 3u];
            }
        }
        patterns[i][m] = 0;
    }

    for (i = 0; i < NPAT; i++) {
        int m = 4 + i % (MAXPAT - 3);
        unsigned int a = naive_count(text, TEXT_LEN, patterns[i], m);
        unsigned int b = kmp_count(text, TEXT_LEN, patterns[i], m);
        h = (h ^ a) * 16777619u;
        h = (h ^ (a == b ? 0x55u : 0xaa00u)) * 16777619u;
    }

    return (int)h;
}
