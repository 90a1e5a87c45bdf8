/* C reference of firmware/measure/ct.py accumulate(): the same sums on the same buffer.
 *
 *   gcc -O2 -o rms_ref rms_ref.c && ./rms_ref burst.u16 NCH SHIFT BIAS0 [BIAS1 ...]
 *
 * Prints the stats (tools/bench.py compares them with the viper kernel's),
 * samples/second (best of 5 runs of >= 0.2 s) and a checksum of every
 * repetition's result, which keeps -O2 from dropping the timed calls.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NSTATS 5
#define CHUNK 127

static void accumulate(const uint16_t *p, int nch, int start, int end, int shift,
                       const int32_t *bias, int32_t *o) {
    int stop = end * nch, span = nch * CHUNK;
    for (int c = 0; c < nch; c++) {
        int32_t bc = bias[c], s1 = 0, lo = 0, hi = 0, mn = 65535, mx = 0;
        for (int i = start * nch + c; i < stop;) {
            int chunk = i + span < stop ? i + span : stop;
            int32_t acc = 0;
            for (; i < chunk; i += nch) {
                int32_t x = p[i] >> shift;
                int32_t d = x - bc;
                s1 += d;
                acc += d * d;
                if (x < mn) mn = x;
                if (x > mx) mx = x;
            }
            lo += acc & 0xFFFF;
            hi += acc >> 16;
        }
        int32_t *k = o + c * NSTATS;
        k[0] = s1; k[1] = lo; k[2] = hi; k[3] = mn; k[4] = mx;
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: rms_ref FILE NCH SHIFT BIAS...\n"); return 2; }
    int nch = atoi(argv[2]), shift = atoi(argv[3]);
    if (nch < 1 || nch > 16 || argc != 4 + nch) { fprintf(stderr, "rms_ref: bad arguments\n"); return 2; }
    int32_t bias[16], out[16 * NSTATS];
    for (int c = 0; c < nch; c++) bias[c] = atoi(argv[4 + c]);
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 2; }
    static uint16_t buf[1 << 20];
    size_t n = fread(buf, 2, sizeof buf / 2, f);
    fclose(f);
    if (n == 0 || n % nch) { fprintf(stderr, "rms_ref: %zu samples is not whole frames\n", n); return 2; }
    int frames = (int)(n / nch);
    double best = 1e9;
    volatile uint32_t sink = 0;  /* unsigned: wraps without UB */
    for (int run = 0; run < 5; run++) {
        long reps = 0;
        double t0 = now_s(), t;
        do {
            accumulate(buf, nch, 0, frames, shift, bias, out);
            sink += (uint32_t)out[0] + (uint32_t)out[1];
            reps++;
            t = now_s();
        } while (t - t0 < 0.2);
        double per = (t - t0) / reps;
        if (per < best) best = per;
    }
    printf("stats");
    for (int i = 0; i < nch * NSTATS; i++) printf(" %d", out[i]);
    printf("\nrate %.0f\nsink %u\n", (double)frames * nch / best, (unsigned)sink);
    return 0;
}
