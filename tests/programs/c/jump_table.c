/* Exercises: switch statements with many dense cases (jump tables at -O2) and a small switch-driven bytecode interpreter. */

static int classify(unsigned int x)
{
    switch (x) {
    case 0: return 17;
    case 1: return -4;
    case 2: return 99;
    case 3: return 1234;
    case 4: return -777;
    case 5: return 5;
    case 6: return 60;
    case 7: return 7000;
    case 8: return -8;
    case 9: return 90;
    case 10: return 1010;
    case 11: return -11111;
    case 12: return 12;
    case 13: return 313;
    case 14: return -1400;
    case 15: return 15;
    case 16: return 1616;
    case 17: return -17;
    case 18: return 180;
    case 19: return 19;
    default: return 3;
    }
}

enum { OP_PUSH, OP_ADD, OP_SUB, OP_MUL, OP_DUP, OP_SWAP, OP_DROP, OP_XOR,
       OP_SHL, OP_SHR, OP_DEC, OP_JNZ, OP_STORE, OP_LOAD, OP_OVER, OP_HALT };

/* computes sum_{k=1..n} k*k ^ mixes, with n pushed first */
static const unsigned char program[] = {
    OP_PUSH, 25,            /* n */
    OP_PUSH, 0,             /* acc */
    OP_STORE, 0,            /* mem[0] = acc */
    /* loop: stack = n */
    OP_DUP,                 /* 6 */
    OP_DUP,
    OP_MUL,                 /* n n*n */
    OP_LOAD, 0,             /* n n*n acc */
    OP_ADD,                 /* n acc' */
    OP_PUSH, 3,
    OP_SHL,                 /* n acc'<<3 */
    OP_OVER,                /* n x n */
    OP_XOR,                 /* n x^n */
    OP_PUSH, 1,
    OP_SHR,
    OP_STORE, 0,            /* n */
    OP_DEC,                 /* n-1 */
    OP_JNZ, 6,
    OP_DROP,
    OP_LOAD, 0,
    OP_PUSH, 7,
    OP_SWAP,
    OP_SUB,
    OP_HALT
};

static unsigned int stack[32];
static unsigned int mem[4];

static unsigned int run(const unsigned char *code, unsigned int start)
{
    unsigned int pc = 0, sp = 0, steps = 0;
    stack[sp++] = start;
    for (;;) {
        unsigned char op = code[pc++];
        steps++;
        switch (op) {
        case OP_PUSH: stack[sp++] = code[pc++] + start; break;
        case OP_ADD: sp--; stack[sp - 1] += stack[sp]; break;
        case OP_SUB: sp--; stack[sp - 1] -= stack[sp]; break;
        case OP_MUL: sp--; stack[sp - 1] *= stack[sp]; break;
        case OP_DUP: stack[sp] = stack[sp - 1]; sp++; break;
        case OP_SWAP: { unsigned int t = stack[sp - 1]; stack[sp - 1] = stack[sp - 2]; stack[sp - 2] = t; } break;
        case OP_DROP: sp--; break;
        case OP_XOR: sp--; stack[sp - 1] ^= stack[sp]; break;
        case OP_SHL: sp--; stack[sp - 1] <<= (stack[sp] & 31u); break;
        case OP_SHR: sp--; stack[sp - 1] >>= (stack[sp] & 31u); break;
        case OP_DEC: stack[sp - 1]--; break;
        case OP_JNZ: { unsigned char t = code[pc++]; if (stack[sp - 1] != 0 && steps < 2000) pc = t; } break;
        case OP_STORE: mem[code[pc++] & 3u] = stack[--sp]; break;
        case OP_LOAD: stack[sp++] = mem[code[pc++] & 3u]; break;
        case OP_OVER: stack[sp] = stack[sp - 2]; sp++; break;
        case OP_HALT: return stack[sp - 1] * 31u + steps;
        default: return 0xdeadu;
        }
        if (sp >= 30 || pc >= sizeof program)
            return 0xbadu;
    }
}

int main(void)
{
    unsigned int h = 0;
    unsigned int seed = 42u;
    int i;

    for (i = 0; i < 300; i++) {
        seed = seed * 1664525u + 1013904223u;
        h = h * 33u + (unsigned int)classify((seed >> 24) % 22u);
    }
    for (i = 0; i < 4; i++)
        h = h * 33u + run(program, (unsigned int)i);

    return (int)h;
}
