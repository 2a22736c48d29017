/* Benchmark workload: recursive quicksort of an int array filled by an LCG. */

#define N 8192
#define ROUNDS 2

static int arr[N];

static void quicksort(int *a, int lo, int hi)
{
    while (lo < hi) {
        int pivot = a[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                int t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        }
        /* recurse into the smaller part, loop on the larger */
        if (j - lo < hi - i) {
            quicksort(a, lo, j);
            lo = i;
        } else {
            quicksort(a, i, hi);
            hi = j;
        }
    }
}

int main(void)
{
    unsigned int seed = 987654321u;
    unsigned int h = 2166136261u;
    int round, i;

    for (round = 0; round < ROUNDS; round++) {
        for (i = 0; i < N; i++) {
            seed = seed * 1664525u + 1013904223u;
            arr[i] = (int)(seed >> 1) - 0x20000000;
        }
        quicksort(arr, 0, N - 1);
        for (i = 1; i < N; i++)
            if (arr[i - 1] > arr[i])
                h ^= 0x80000000u;      /* not sorted: poison the checksum */
        for (i = 0; i < N; i += 7)
            h = (h ^ (unsigned int)arr[i]) * 16777619u;
    }

    return (int)h;
}
