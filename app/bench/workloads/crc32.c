/* Benchmark workload: table-driven CRC-32 (IEEE, reflected) with the table built at run time. */

#define DATA_LEN 16384
#define PASSES 20

static unsigned int crc_table[256];
static unsigned char data[DATA_LEN];

static void build_table(void)
{
    unsigned int i, k;
    for (i = 0; i < 256; i++) {
        unsigned int c = i;
        for (k = 0; k < 8; k++)
            c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        crc_table[i] = c;
    }
}

static unsigned int crc32(const unsigned char *p, unsigned long n)
{
    unsigned int c = 0xFFFFFFFFu;
    unsigned long i;
    for (i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

int main(void)
{
    static const unsigned char check[] = "123456789";
    unsigned int seed = 2463534242u;
    unsigned int h;
    unsigned int pass;
    unsigned long i;

    build_table();
    /* standard check value: CRC-32("123456789") == 0xCBF43926 */
    h = crc32(check, 9) == 0xCBF43926u ? 0x1234567u : 0u;

    for (i = 0; i < DATA_LEN; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        data[i] = (unsigned char)(seed >> 24);
    }

    for (pass = 0; pass < PASSES; pass++) {
        unsigned int c = crc32(data, DATA_LEN);
        h = (h ^ c) * 16777619u;
        data[(c >> 3) & (DATA_LEN - 1)] ^= (unsigned char)pass;  /* change the input */
    }

    return (int)h;
}
