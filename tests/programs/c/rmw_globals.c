/* Exercises: read-modify-write on memory: += -= |= &= ^= <<= >>= *= ++ -- on globals and global arrays of every width. */

volatile unsigned char vb = 1;
volatile unsigned short vw = 2;
volatile unsigned int vd = 3;
volatile unsigned long vq = 4;
volatile signed char vsb = -1;
volatile short vsw = -2;
volatile int vsd = -3;
volatile long vsq = -4;

unsigned char gb[8];
unsigned short gw[8];
unsigned int gd[8];
unsigned long gq[8];
int counter;
long lcounter;

__attribute__((noinline)) static unsigned long observe(void)
{
    unsigned long h = 1469598103934665603UL;
    int i;
    for (i = 0; i < 8; i++) {
        h = (h ^ gb[i]) * 1099511628211UL;
        h = (h ^ gw[i]) * 1099511628211UL;
        h = (h ^ gd[i]) * 1099511628211UL;
        h = (h ^ gq[i]) * 1099511628211UL;
    }
    h = (h ^ vb) * 1099511628211UL;
    h = (h ^ vw) * 1099511628211UL;
    h = (h ^ vd) * 1099511628211UL;
    h = (h ^ vq) * 1099511628211UL;
    h = (h ^ (unsigned long)(long)vsb) * 1099511628211UL;
    h = (h ^ (unsigned long)(long)vsw) * 1099511628211UL;
    h = (h ^ (unsigned long)(long)vsd) * 1099511628211UL;
    h = (h ^ (unsigned long)vsq) * 1099511628211UL;
    h = (h ^ (unsigned long)(long)counter) * 1099511628211UL;
    h = (h ^ (unsigned long)lcounter) * 1099511628211UL;
    return h;
}

int main(void)
{
    unsigned long h = 0;
    int i, k;

    for (k = 0; k < 24; k++) {
        unsigned int s = (unsigned int)k;

        vb += 3; vb ^= 0x5a; vb <<= 1; vb |= 1; vb++;
        vw -= 1000; vw &= 0xfff7; vw >>= 1; vw ^= 0x1234; vw--;
        vd *= 2654435761u; vd += s; vd >>= 3; vd |= 0x80; vd++;
        vq ^= 0x0123456789abcdefUL; vq <<= 5; vq += s; vq -= 7; vq--;
        vsb += 5; vsb >>= 1; vsb--;       /* signed right shift of a negative value is arithmetic in gcc */
        vsw -= 300; vsw >>= 2; vsw++;
        vsd -= 123456; vsd >>= 1; vsd ^= -5;
        vsq = (long)((unsigned long)vsq * 3UL); vsq >>= 2; vsq -= 11;

        for (i = 0; i < 8; i++) {
            gb[i] += (unsigned char)(i + k);
            gb[i] ^= 0x33;
            gw[i] -= (unsigned short)(i * 1000);
            gw[i] |= (unsigned short)(1u << i);
            gd[i] += s * 0x9e3779b9u;
            gd[i] <<= 1;
            gd[i] ^= gd[(i + 1) & 7];
            gq[i] *= 6364136223846793005UL;
            gq[i] += (unsigned long)i + 1;
            gq[i] >>= (i & 3);
        }
        gb[k & 7]++;
        gw[k & 7]--;
        gd[(k + 3) & 7] &= 0xfffffff0u;
        gq[(k + 5) & 7] |= 1UL << 40;
        counter++;
        counter += k;
        lcounter--;
        lcounter -= (long)k * 100000000L;

        h = h * 31 + observe();
    }

    return (int)(unsigned int)(h ^ (h >> 32));
}
