/* C reference of firmware/measure/power.py products(): the same sums on the same buffer.
 *
 *   gcc -O2 -o power_ref power_ref.c && ./power_ref burst.u16 NCH SHIFT CI CV SKEW BIAS0 [BIAS1 ...]
 *
 * One pair (current channel CI, voltage channel CV, skew in 1/32 frame).
 * Prints the four sums (tools/bench.py compares them with the viper kernel's),
 * samples/second counted as the kernel reads them (two channels a frame, best
 * of 5 runs of >= 0.2 s) and a checksum that keeps -O2 from dropping the calls.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void products(const uint16_t *p, int nch, int start, int end, int shift, const int32_t *bias,
                     int ci, int cv, int skew, int32_t *o) {
    int32_t bi = bias[ci], bv = bias[cv], a = skew < 0 ? -skew : skew;
    int step = skew < 0 ? nch : -nch, first = start * nch, last = (end - 1) * nch;
    int32_t lo = 0, hi = 0, si = 0, sv = 0;
    for (int f = start; f < end; f++) {
        int row = f * nch, other = row + step;
        if (other < first || other > last) other = row;
        int32_t di = (p[row + ci] >> shift) - bi;
        int32_t dv = (p[row + cv] >> shift) - bv;
        int32_t dn = (p[other + cv] >> shift) - bv;
        int32_t v = dv * 32 + a * (dn - dv);
        int32_t prod = di * v;
        lo += prod & 0xFFFF;
        hi += prod >> 16;
        si += di;
        sv += v >> 5;
    }
    o[0] = lo; o[1] = hi; o[2] = si; o[3] = sv;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 8) { fprintf(stderr, "usage: power_ref FILE NCH SHIFT CI CV SKEW BIAS...\n"); return 2; }
    int nch = atoi(argv[2]), shift = atoi(argv[3]), ci = atoi(argv[4]), cv = atoi(argv[5]), skew = atoi(argv[6]);
    if (nch < 1 || nch > 16 || argc != 7 + nch) { fprintf(stderr, "power_ref: bad arguments\n"); return 2; }
    int32_t bias[16], out[4];
    for (int c = 0; c < nch; c++) bias[c] = atoi(argv[7 + c]);
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 2; }
    static uint16_t buf[1 << 20];
    size_t n = fread(buf, 2, sizeof buf / 2, f);
    fclose(f);
    if (n == 0 || n % nch) { fprintf(stderr, "power_ref: %zu samples is not whole frames\n", n); return 2; }
    int frames = (int)(n / nch);
    double best = 1e9;
    volatile uint32_t sink = 0;
    for (int run = 0; run < 5; run++) {
        long reps = 0;
        double t0 = now_s(), t;
        do {
            products(buf, nch, 0, frames, shift, bias, ci, cv, skew, out);
            sink += (uint32_t)out[0] + (uint32_t)out[1];
            reps++;
            t = now_s();
        } while (t - t0 < 0.2);
        double per = (t - t0) / reps;
        if (per < best) best = per;
    }
    printf("sums %d %d %d %d\nrate %.0f\nsink %u\n", out[0], out[1], out[2], out[3],
           (double)frames * 2 / best, (unsigned)sink);
    return 0;
}
