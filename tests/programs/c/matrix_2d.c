/* Exercises: 2D arrays: matrix multiply, transpose in place, row pointers, and a small game-of-life grid on chars. */

#define N 8
#define G 10

static int a[N][N], b[N][N], c[N][N];
static unsigned char grid[G][G], next_grid[G][G];

static void matmul(int (*x)[N], int (*y)[N], int (*z)[N])
{
    int i, j, k;
    for (i = 0; i < N; i++)
        for (j = 0; j < N; j++) {
            int s = 0;
            for (k = 0; k < N; k++)
                s += x[i][k] * y[k][j];
            z[i][j] = s;
        }
}

static void transpose(int (*m)[N])
{
    int i, j;
    for (i = 0; i < N; i++)
        for (j = i + 1; j < N; j++) {
            int t = m[i][j];
            m[i][j] = m[j][i];
            m[j][i] = t;
        }
}

static void life_step(void)
{
    int r, col;
    for (r = 0; r < G; r++)
        for (col = 0; col < G; col++) {
            int dr, dc, n = 0;
            for (dr = -1; dr <= 1; dr++)
                for (dc = -1; dc <= 1; dc++) {
                    int rr = (r + dr + G) % G, cc = (col + dc + G) % G;
                    if ((dr || dc) && grid[rr][cc])
                        n++;
                }
            next_grid[r][col] = (unsigned char)(n == 3 || (n == 2 && grid[r][col]));
        }
    for (r = 0; r < G; r++)
        for (col = 0; col < G; col++)
            grid[r][col] = next_grid[r][col];
}

int main(void)
{
    unsigned int h = 2166136261u;
    int i, j, gen;
    int local[4][6];

    for (i = 0; i < N; i++)
        for (j = 0; j < N; j++) {
            a[i][j] = (i * 7 + j * 3) % 11 - 5;
            b[i][j] = (i == j) ? 2 : (i + j) % 4 - 1;
        }
    matmul(a, b, c);
    transpose(c);
    matmul(c, a, b);
    for (i = 0; i < N; i++)
        for (j = 0; j < N; j++)
            h = (h ^ (unsigned int)b[i][j]) * 16777619u;

    /* row pointer walking */
    {
        int *row = &c[3][0];
        for (j = 0; j < N; j++)
            row[j] += j;
        row = c[N - 1];
        for (j = 0; j < N; j++)
            h = (h ^ (unsigned int)(row[j] + c[3][j])) * 16777619u;
    }

    /* glider plus blinker */
    grid[1][2] = 1; grid[2][3] = 1; grid[3][1] = 1; grid[3][2] = 1; grid[3][3] = 1;
    grid[7][5] = 1; grid[7][6] = 1; grid[7][7] = 1;
    for (gen = 0; gen < 2; gen++) {
        life_step();
        for (i = 0; i < G; i++)
            for (j = 0; j < G; j++)
                h = h * 3u + grid[i][j];
    }

    /* local 2D array on the stack */
    for (i = 0; i < 4; i++)
        for (j = 0; j < 6; j++)
            local[i][j] = i * 10 + j;
    for (i = 0; i < 4; i++)
        local[i][5 - i] = -local[i][i];
    for (i = 0; i < 4; i++)
        for (j = 0; j < 6; j++)
            h = (h ^ (unsigned int)local[i][j]) * 16777619u;

    return (int)h;
}
