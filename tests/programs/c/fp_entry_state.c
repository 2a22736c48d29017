/* The CPU state main is entered in: the x87 control word, MXCSR, the direction flag
   and the x87 tag word (every register empty), the stack's alignment. The host binary
   (started by Linux) and the guest (started by its kernel) must agree, on 31.

   The flags are read first and every value read lands outside the stack: a push in
   inline assembly writes below %rsp, where gcc keeps locals of a leaf function (the
   red zone) at -O2, and would overwrite them. */

static unsigned char area[512] __attribute__((aligned(16)));
static unsigned short cw;
static unsigned mxcsr;

int main(void) {
    unsigned long flags;
    __asm__ volatile("pushfq; popq %0" : "=r"(flags) : : "memory");
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fxsave %0" : "=m"(area));     /* its abridged tag word: 0, all empty */
    int aligned = __builtin_frame_address(0) != 0 &&
                  ((unsigned long)__builtin_frame_address(0) & 15) == 0;
    return (cw == 0x037f) | (mxcsr == 0x1f80) << 1 | !(flags & 0x400) << 2 |
           (area[4] == 0) << 3 | aligned << 4;
}
