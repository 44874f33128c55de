// Spins forever without a call or a memory access that could end it (cli_infinite_loop.rs in C):
// only the host's CPU-time or wall-clock limit stops it.
int main(void) {
    volatile unsigned long spins = 0;
    for (;;) spins++;
}
