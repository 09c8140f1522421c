// tests/test_model.c -- tests for the model, checkpoint and sampling sections of r1.c.
//
//   make tests/test_model && ./tests/test_model
//
// What is checked:
//   1. every layer's backward against central finite differences, each op alone
//   2. the whole model's gradient, for every one of the 16 parameter tensors;
//      the reward model's (head and trunk), Bradley-Terry, and that rm_step learns
//   3. the KV-cache decoder against the full forward; greedy generate() against
//      argmax decoding done by hand with full forwards
//   4. safetensors: bit-identical round trip, the header layout of the format, a valid
//      file laid out differently, and every kind of malformed file rejected
//   5. threads: bit-identical results with one and two threads
//   6. clip_grad_norm, lr_schedule, AdamW, sample_token and the Rng
//   7. the arithmetic that gives the same bits everywhere: sum_fixed and dot_fixed add
//      in their documented order; r1_expf, r1_expm1f, r1_logf, r1_cosf and r1_powi
//      are within 2 ulp of libm over dense sweeps (within 1 here, with glibc)
//
// The gradient checks. The scalar loss is L = sum(out * R) for a fixed random R
// (accumulated in double), so the backward is fed dL/dout = R. For an input x:
//
//   num = (L(x + eps) - L(x - eps)) / ((x + eps) - (x - eps))   (the float step actually taken)
//   rel = |num - ana| / max(|num| + |ana|, 1e-2)
//
// The floor 1e-2 turns the relative error into an absolute one (1e-2 * rel) for
// gradients near zero, where a relative error means nothing. Why 1e-2 is the
// tolerance: the forward runs in float32, so each output carries a rounding
// error of about 6e-8 of its size; divided by a step of 2e-2 that is ~1e-5 of
// the gradient, and the truncation error of a central difference, eps^2/6
// times the third derivative, is ~1e-5 for eps = 1e-2 on inputs of size ~1.
// Correct backward passes land between 1e-6 (linear ops) and 3e-3 (attention,
// whose softmax curves most); a wrong one (a missing term, a wrong sign or
// scale, a wrong index) is off by 0.03 to 1. The whole model's check has its
// own noise analysis, above test_model_grad.
//
// Every backward is called with its gradient buffers pre-filled with random
// values, and the test subtracts them again: that also checks the contract
// that backward passes accumulate (+=).
#define R1_TESTING
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"   // main() and the commands are fenced off
#include "../r1.c"
#pragma GCC diagnostic pop
#include "check.h"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define GRAD_TOL 1e-2   // see the top of the file

// ----------------------------------------------------------------------------
// helpers

static double rel_err_floor(double num, double ana, double floor) {
    double den = fabs(num) + fabs(ana);
    return fabs(num - ana) / (den > floor ? den : floor);
}
static double rel_err(double num, double ana) { return rel_err_floor(num, ana, 1e-2); }

static float *randn(size_t n, float mean, float sd, Rng *r) {
    float *x = xmalloc(n * sizeof(float), "test tensor");
    for (size_t i = 0; i < n; i++) x[i] = mean + sd * rng_normal(r);
    return x;
}
static float *zeros(size_t n) { return xcalloc(n, sizeof(float), "test tensor"); }
static float *copy_of(const float *x, size_t n) {
    float *y = xmalloc(n * sizeof(float), "test tensor");
    memcpy(y, x, n * sizeof(float));
    return y;
}
static double dot(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

// The largest relative error found, and where.
typedef struct { double err, num, ana; size_t at; } Fd;
static void fd_note_floor(Fd *r, size_t at, double num, double ana, double floor) {
    double e = rel_err_floor(num, ana, floor);
    if (e >= r->err) { r->err = e; r->num = num; r->ana = ana; r->at = at; }
}
static void fd_note(Fd *r, size_t at, double num, double ana) { fd_note_floor(r, at, num, ana, 1e-2); }

typedef double (*LossFn)(void *ctx);

// Central difference of f with respect to *xi (restored afterwards).
static double central_diff(LossFn f, void *ctx, float *xi, float eps) {
    float x0 = *xi, xp = x0 + eps, xm = x0 - eps;
    *xi = xp; double lp = f(ctx);
    *xi = xm; double lm = f(ctx);
    *xi = x0;
    return (lp - lm) / ((double)xp - (double)xm);
}

// Compare every entry of the analytic gradient ana (n) with central differences.
static Fd fd_all(LossFn f, void *ctx, float *x, const float *ana, size_t n, float eps) {
    Fd r = { 0, 0, 0, 0 };
    for (size_t i = 0; i < n; i++) fd_note(&r, i, central_diff(f, ctx, x + i, eps), ana[i]);
    return r;
}

// Pre-fill a gradient buffer with random values (returns their copy), so that
// acc_done() can check that the backward accumulated into it.
static float *acc_begin(float *g, size_t n, Rng *r) {
    for (size_t i = 0; i < n; i++) g[i] = rng_normal(r);
    return copy_of(g, n);
}
static void acc_done(float *g, float *g0, size_t n) {
    for (size_t i = 0; i < n; i++) g[i] -= g0[i];
    free(g0);
}

// "gradcheck <op>: max rel err X (per input)", and one CHECK per input.
static void report_op(const char *op, int k, const char *const *names, const Fd *r) {
    double worst = 0.0;
    for (int i = 0; i < k; i++) if (r[i].err > worst) worst = r[i].err;
    printf("gradcheck %s: max rel err %.2e", op, worst);
    if (k > 1) {
        printf(" (");
        for (int i = 0; i < k; i++) printf("%s%s %.1e", i ? ", " : "", names[i], r[i].err);
        printf(")");
    }
    printf("\n");
    for (int i = 0; i < k; i++)
        CHECK(r[i].err < GRAD_TOL, "gradcheck %s, d/d%s: rel err %.3e at index %zu: numeric %.7g, analytic %.7g",
              op, names[i], r[i].err, r[i].at, r[i].num, r[i].ana);
}

// ----------------------------------------------------------------------------
// 1. each op alone against finite differences

typedef struct { float *out, *wte, *wpe, *R; int *inp; int B, T, C; } EncoderCtx;
static double encoder_loss(void *p) {
    EncoderCtx *c = p;
    encoder_forward(c->out, c->inp, c->wte, c->wpe, c->B, c->T, c->C);
    return dot(c->out, c->R, (size_t)c->B * c->T * c->C);
}
static void test_encoder_grad(Rng *rng) {
    enum { B = 2, T = 4, C = 6, V = 5 };
    int inp[B * T] = { 1, 3, 3, 0, 4, 1, 2, 3 };      // repeated tokens: their gradients add up
    EncoderCtx c = { zeros(B * T * C), randn(V * C, 0, 1, rng), randn(T * C, 0, 1, rng),
                     randn(B * T * C, 0, 1, rng), inp, B, T, C };
    float *dwte = zeros(V * C), *dwpe = zeros(T * C);
    float *g0 = acc_begin(dwte, V * C, rng), *g1 = acc_begin(dwpe, T * C, rng);
    encoder_backward(dwte, dwpe, c.R, inp, B, T, C);
    acc_done(dwte, g0, V * C); acc_done(dwpe, g1, T * C);
    // linear in both inputs: any step is exact up to rounding, so take a big one
    Fd r[2] = { fd_all(encoder_loss, &c, c.wte, dwte, V * C, 0.1f),
                fd_all(encoder_loss, &c, c.wpe, dwpe, T * C, 0.1f) };
    const char *names[] = { "wte", "wpe" };
    report_op("encoder", 2, names, r);
    free(c.out); free(c.wte); free(c.wpe); free(c.R); free(dwte); free(dwpe);
}

typedef struct { float *out, *mean, *rstd, *inp, *w, *b, *R; int N, C; } LayerNormCtx;
static double layernorm_loss(void *p) {
    LayerNormCtx *c = p;
    layernorm_forward(c->out, c->mean, c->rstd, c->inp, c->w, c->b, c->N, c->C);
    return dot(c->out, c->R, (size_t)c->N * c->C);
}
static void test_layernorm_grad(Rng *rng, int N, int C) {
    size_t n = (size_t)N * C;
    LayerNormCtx c = { zeros(n), zeros(N), zeros(N), randn(n, 0.5f, 2.0f, rng), randn(C, 1, 0.5f, rng),
                       randn(C, 0, 0.5f, rng), randn(n, 0, 1, rng), N, C };
    float *dinp = zeros(n), *dw = zeros(C), *db = zeros(C);
    float *g0 = acc_begin(dinp, n, rng), *g1 = acc_begin(dw, C, rng), *g2 = acc_begin(db, C, rng);
    layernorm_loss(&c);                                  // mean and rstd for the backward
    layernorm_backward(dinp, dw, db, c.R, c.inp, c.w, c.mean, c.rstd, N, C);
    acc_done(dinp, g0, n); acc_done(dw, g1, C); acc_done(db, g2, C);
    Fd r[3] = { fd_all(layernorm_loss, &c, c.inp, dinp, n, 1e-2f),
                fd_all(layernorm_loss, &c, c.w, dw, C, 1e-2f),
                fd_all(layernorm_loss, &c, c.b, db, C, 1e-2f) };
    const char *names[] = { "inp", "weight", "bias" };
    char op[64];
    snprintf(op, sizeof op, "layernorm N=%d C=%d", N, C);
    report_op(op, 3, names, r);
    free(c.out); free(c.mean); free(c.rstd); free(c.inp); free(c.w); free(c.b); free(c.R);
    free(dinp); free(dw); free(db);
}

// matmul_forward takes the weight transposed, (C,OC); the loss transposes the
// (OC,C) weight first so that the check perturbs the weight as stored.
typedef struct { float *out, *inp, *w, *wt, *b, *R; int N, C, OC; } MatmulCtx;
static double matmul_loss(void *p) {
    MatmulCtx *c = p;
    transpose(c->wt, c->w, c->OC, c->C);
    matmul_forward(c->out, c->inp, c->wt, c->b, c->N, c->C, c->OC);
    return dot(c->out, c->R, (size_t)c->N * c->OC);
}
static void test_matmul_grad(Rng *rng, int N, int C, int OC) {
    size_t ni = (size_t)N * C, nw = (size_t)OC * C, no = (size_t)N * OC;
    MatmulCtx c = { zeros(no), randn(ni, 0, 1, rng), randn(nw, 0, 1, rng), zeros(nw),
                    randn(OC, 0, 1, rng), randn(no, 0, 1, rng), N, C, OC };
    float *dinp = zeros(ni), *dw = zeros(nw), *db = zeros(OC);
    float *g0 = acc_begin(dinp, ni, rng), *g1 = acc_begin(dw, nw, rng), *g2 = acc_begin(db, OC, rng);
    matmul_backward(dinp, dw, db, c.R, c.inp, c.w, N, C, OC);
    acc_done(dinp, g0, ni); acc_done(dw, g1, nw); acc_done(db, g2, OC);
    Fd r[3] = { fd_all(matmul_loss, &c, c.inp, dinp, ni, 0.1f),    // linear: exact for any step
                fd_all(matmul_loss, &c, c.w, dw, nw, 0.1f),
                fd_all(matmul_loss, &c, c.b, db, OC, 0.1f) };
    const char *names[] = { "inp", "weight", "bias" };
    char op[64];
    snprintf(op, sizeof op, "matmul N=%d C=%d OC=%d", N, C, OC);
    report_op(op, 3, names, r);
    free(c.out); free(c.inp); free(c.w); free(c.wt); free(c.b); free(c.R); free(dinp); free(dw); free(db);
}

// The kernel's forward, against a plain triple loop in double, for shapes that
// take every path: 4x16 tiles, leftover columns, leftover rows, and strides.
static void test_matmul_forward(Rng *rng) {
    const int shapes[][3] = { { 1, 1, 1 }, { 3, 5, 7 }, { 4, 16, 16 }, { 7, 5, 19 }, { 8, 16, 32 },
                              { 10, 20, 18 }, { 37, 45, 33 }, { 64, 96, 288 } };
    double worst = 0.0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int N = shapes[s][0], C = shapes[s][1], OC = shapes[s][2];
        float *inp = randn((size_t)N * C, 0, 1, rng), *w = randn((size_t)OC * C, 0, 1, rng);
        float *wt = zeros((size_t)OC * C), *b = randn(OC, 0, 1, rng), *out = zeros((size_t)N * OC);
        transpose(wt, w, OC, C);
        matmul_forward(out, inp, wt, b, N, C, OC);
        double err = 0.0;
        for (int r = 0; r < N; r++)
            for (int o = 0; o < OC; o++) {
                double ref = b[o];
                for (int i = 0; i < C; i++) ref += (double)inp[r * C + i] * w[o * C + i];
                double e = fabs(ref - out[r * OC + o]) / (1.0 + fabs(ref));
                if (e > err) err = e;
            }
        CHECK(err < 1e-5, "matmul_forward N=%d C=%d OC=%d differs from a double-precision product by %.3e", N, C, OC, err);
        if (err > worst) worst = err;
        // the strided form: c += a^T b with a read column-wise (as the weight gradient uses it)
        float *c = zeros((size_t)C * OC), *d = randn((size_t)N * OC, 0, 1, rng);
        matmul_acc(c, inp, 1, C, d, C, OC, N);           // c (C,OC) += inp^T (C,N) . d (N,OC)
        double err2 = 0.0;
        for (int i = 0; i < C; i++)
            for (int o = 0; o < OC; o++) {
                double ref = 0.0;
                for (int r = 0; r < N; r++) ref += (double)inp[r * C + i] * d[r * OC + o];
                double e = fabs(ref - c[i * OC + o]) / (1.0 + fabs(ref));
                if (e > err2) err2 = e;
            }
        CHECK(err2 < 1e-5, "matmul_acc transposed a, M=%d N=%d K=%d, differs by %.3e", C, OC, N, err2);
        free(inp); free(w); free(wt); free(b); free(out); free(c); free(d);
    }
    printf("matmul_forward vs double-precision product: max rel diff %.2e\n", worst);
}

// The register- and cache-blocked kernel promises the same numbers as the plain
// loop (same order of fused multiply-adds): check bit for bit. First every M
// up to 17 and N up to 66 with short K: each count of leftover rows for tiles
// of 4, 6 or 8 rows, and each way the kernel splits columns for vectors of 8
// or 16 floats (whole tiles, a vector, a half vector, both, and the last
// few columns padded), with row strides wider than N (as attention uses),
// whose padding must stay untouched. Then the demo's kinds of shapes, strided
// a, and K longer than one cache chunk (with and without padded columns).
static int kernels_agree(Rng *rng, int M, int N, int K, int strided, size_t ldb, size_t ldc) {
    float *a = randn((size_t)M * K, 0, 1, rng), *b = randn((size_t)K * ldb, 0, 1, rng);
    float *c1 = randn((size_t)M * ldc, 0, 1, rng), *c2 = copy_of(c1, (size_t)M * ldc);
    MatmulJob j1 = { c1, a, b, strided ? 1 : (size_t)K, strided ? (size_t)M : 1, ldb, ldc, N, K }, j2 = j1;
    j2.c = c2;
    matmul_rows(&j1, 0, M);
    MATMUL_KERNEL(&j2, 0, M);
    int same = !memcmp(c1, c2, (size_t)M * ldc * sizeof(float));
    free(a); free(b); free(c1); free(c2);
    return same;
}
static void test_matmul_kernels_agree(Rng *rng) {
    int n = 0, bad = 0, first[3] = { 0 };
    for (int M = 1; M <= 17; M++)
        for (int N = 1; N <= 66; N++, n++) {
            const int K = 1 + (M + N) % 7;
            if (kernels_agree(rng, M, N, K, (M + N) % 2, N + 3, N + 5)) continue;
            if (!bad++) { first[0] = M; first[1] = N; first[2] = K; }
        }
    CHECK(bad == 0, "matmul kernels differ on %d of the small shapes, first M=%d N=%d K=%d", bad, first[0], first[1], first[2]);
    const int shapes[][3] = { { 6, 16, 1 }, { 13, 37, 5 }, { 12, 96, 500 }, { 96, 24, 4096 }, { 25, 453, 200 },
                              { 64, 24, 64 }, { 16, 64, 24 }, { 40, 288, 300 }, { 453, 96, 400 } };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int strided = 0; strided < 2; strided++, n++) {
            const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            int same = kernels_agree(rng, M, N, K, strided, (size_t)N, (size_t)N);
            CHECK(same, "matmul kernels differ for M=%d N=%d K=%d%s", M, N, K, strided ? " (a transposed)" : "");
            bad += !same;
        }
    printf("matmul: the fast kernel (%d-row tiles) and the plain loop agree bit for bit on %d shapes (%d differ)\n",
           MM_ROWS, n, bad);
}

typedef struct { float *out, *att, *inp, *R; int B, T, C, NH; } AttentionCtx;
static double attention_loss(void *p) {
    AttentionCtx *c = p;
    attention_forward(c->out, c->att, c->inp, c->B, c->T, c->C, c->NH);
    return dot(c->out, c->R, (size_t)c->B * c->T * c->C);
}
// The sampler's attend_fast (r1.h) promises attend's numbers bit for bit,
// weights and output, for every head size it takes, key count and stride.
static void test_attend_fast(Rng *rng) {
#ifdef R1_ATTEND_FAST
    int n_cases = 0, bad = 0;
    for (int hs = 8; hs <= 64; hs += 8)
        for (int n = 1; n <= 130; n += n < 10 ? 1 : 13)
            for (int wide = 0; wide < 2; wide++, n_cases++) {
                const size_t stride = wide ? 3 * (size_t)hs + 8 : (size_t)hs;
                float *q = randn((size_t)hs, 0, 1, rng), *k = randn(stride * n, 0, 1, rng), *v = randn(stride * n, 0, 1, rng);
                float *o1 = xcalloc((size_t)hs, sizeof(float), "test"), *o2 = xcalloc((size_t)hs, sizeof(float), "test");
                float *a1 = xcalloc((size_t)n, sizeof(float), "test"), *a2 = xcalloc((size_t)n, sizeof(float), "test");
                attend(o1, a1, q, k, v, stride, n, hs);
                attend_fast(o2, a2, q, k, v, stride, n, hs);
                bad += memcmp(o1, o2, (size_t)hs * sizeof(float)) != 0 || memcmp(a1, a2, (size_t)n * sizeof(float)) != 0;
                free(q); free(k); free(v); free(o1); free(o2); free(a1); free(a2);
            }
    CHECK(bad == 0, "attend_fast differs from attend in %d of %d cases", bad, n_cases);
    printf("attend: the sampler's fast path and the plain one agree bit for bit in %d cases (%d differ)\n", n_cases, bad);
#else
    (void)rng;
#endif
}

static void test_attention_grad(Rng *rng) {
    enum { B = 2, T = 5, C = 8, NH = 2 };
    size_t ni = (size_t)B * T * 3 * C, no = (size_t)B * T * C;
    AttentionCtx c = { zeros(no), zeros((size_t)B * NH * T * T), randn(ni, 0, 1.5f, rng),
                       randn(no, 0, 1, rng), B, T, C, NH };
    float *dinp = zeros(ni), *g0 = acc_begin(dinp, ni, rng);
    attention_loss(&c);                                   // att for the backward
    // the causal mask: attention to the future is exactly zero
    int masked = 1;
    for (int bh = 0; bh < B * NH; bh++)
        for (int t = 0; t < T; t++)
            for (int s = t + 1; s < T; s++) masked &= c.att[((size_t)bh * T + t) * T + s] == 0.0f;
    CHECK(masked, "attention_forward puts weight on future positions");
    attention_backward(dinp, c.R, c.inp, c.att, B, T, C, NH);
    acc_done(dinp, g0, ni);
    Fd r = fd_all(attention_loss, &c, c.inp, dinp, ni, 1e-2f);
    const char *names[] = { "qkv" };
    report_op("attention B=2 T=5 C=8 NH=2", 1, names, &r);
    free(c.out); free(c.att); free(c.inp); free(c.R); free(dinp);
}

typedef struct { float *out, *inp, *R; size_t N; } GeluCtx;
static double gelu_loss(void *p) {
    GeluCtx *c = p;
    gelu_forward(c->out, c->inp, c->N);
    return dot(c->out, c->R, c->N);
}
static void test_gelu_grad(Rng *rng) {
    enum { N = 64 };
    GeluCtx c = { zeros(N), zeros(N), randn(N, 0, 1, rng), N };
    for (int i = 0; i < N; i++) c.inp[i] = -4.0f + 8.0f * rng_uniform(rng);   // both tails and the bend
    float *dinp = zeros(N), *g0 = acc_begin(dinp, N, rng);
    gelu_backward(dinp, c.inp, c.R, N);
    acc_done(dinp, g0, N);
    Fd r = fd_all(gelu_loss, &c, c.inp, dinp, N, 1e-2f);
    const char *names[] = { "inp" };
    report_op("gelu", 1, names, &r);
    // the tanh approximation's value, against the formula in double
    double err = 0.0;
    gelu_loss(&c);
    for (int i = 0; i < N; i++) {
        double x = c.inp[i], ref = 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
        if (fabs(ref - c.out[i]) > err) err = fabs(ref - c.out[i]);
    }
    CHECK(err < 1e-5, "gelu_forward differs from 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) by %.3e", err);
    free(c.out); free(c.inp); free(c.R); free(dinp);
}

typedef struct { float *out, *a, *b, *R; size_t N; } ResidualCtx;
static double residual_loss(void *p) {
    ResidualCtx *c = p;
    residual_forward(c->out, c->a, c->b, c->N);
    return dot(c->out, c->R, c->N);
}
static void test_residual_grad(Rng *rng) {
    enum { N = 24 };
    ResidualCtx c = { zeros(N), randn(N, 0, 1, rng), randn(N, 0, 1, rng), randn(N, 0, 1, rng), N };
    float *da = zeros(N), *db = zeros(N), *g0 = acc_begin(da, N, rng), *g1 = acc_begin(db, N, rng);
    residual_backward(da, db, c.R, N);
    acc_done(da, g0, N); acc_done(db, g1, N);
    Fd r[2] = { fd_all(residual_loss, &c, c.a, da, N, 0.1f), fd_all(residual_loss, &c, c.b, db, N, 0.1f) };
    const char *names[] = { "a", "b" };
    report_op("residual", 2, names, r);
    free(c.out); free(c.a); free(c.b); free(c.R); free(da); free(db);
}

// softmax_logp: the loss is the weighted one the model trains on,
// L = -sum_r w[r] * logp[r]; some targets are -1 (ignored) and some weights 0.
// (softmax_logp_backward writes its output rather than accumulating: it is
// where the chain rule starts, so the accumulation check does not apply.)
typedef struct { float *logits, *probs, *logp, *w; int *targets; int N, V; float temp; } SoftmaxCtx;
static double softmax_loss(void *p) {
    SoftmaxCtx *c = p;
    memcpy(c->probs, c->logits, (size_t)c->N * c->V * sizeof(float));   // forward works in place
    softmax_logp_forward(c->probs, c->logp, c->targets, NULL, c->N, c->V, c->temp);
    double L = 0.0;
    for (int r = 0; r < c->N; r++) L -= (double)c->w[r] * c->logp[r];
    return L;
}
// At a temperature other than 1 the forward is softmax(logits / temp) (the
// distribution GRPO's rollouts sample) and the backward carries the 1/temp.
static void test_softmax_grad(Rng *rng, float temp) {
    enum { N = 6, V = 11 };
    int targets[N] = { 3, -1, 0, 10, 5, 7 };
    float w[N] = { 1.0f, 0.7f, 0.0f, -0.5f, 2.0f, 0.3f };   // a weight on an ignored row, a zero, a negative
    SoftmaxCtx c = { randn(N * V, 0, 2, rng), zeros(N * V), zeros(N), w, targets, N, V, temp };
    float *dlogits = zeros(N * V);
    softmax_loss(&c);
    // probabilities sum to one, and logp is log p(target) (0 for an ignored row)
    double worst = 0.0;
    for (int r = 0; r < N; r++) {
        double s = 0.0;
        for (int i = 0; i < V; i++) s += c.probs[r * V + i];
        worst = fmax(worst, fabs(s - 1.0));
        double want = targets[r] >= 0 ? log(c.probs[r * V + targets[r]]) : 0.0;
        worst = fmax(worst, fabs(want - c.logp[r]));
        // and the probabilities are those of logits / temp, computed here in double
        double mx = -1e300, z = 0.0;
        for (int i = 0; i < V; i++) mx = fmax(mx, c.logits[r * V + i] / temp);
        for (int i = 0; i < V; i++) z += exp(c.logits[r * V + i] / temp - mx);
        for (int i = 0; i < V; i++) worst = fmax(worst, fabs(exp(c.logits[r * V + i] / temp - mx) / z - c.probs[r * V + i]));
    }
    CHECK(worst < 1e-5, "softmax_logp_forward (temperature %g): probabilities or logp off by %.3e", temp, worst);
    softmax_logp_backward(dlogits, c.probs, targets, w, NULL, N, V, temp);
    Fd r = fd_all(softmax_loss, &c, c.logits, dlogits, N * V, 1e-2f);
    const char *names[] = { temp == 1.0f ? "logits" : "logits, temperature 0.7" };
    report_op("softmax_logp", 1, names, &r);
    free(c.logits); free(c.probs); free(c.logp); free(dlogits);
}

// ----------------------------------------------------------------------------
// 2. the whole model, every parameter tensor

static const char *const PARAM_NAMES[N_PARAM_TENSORS] = {
    "tok_emb", "pos_emb", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
    "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb" };

// The 16 tensors of a Params, in the order of the struct (and of PARAM_NAMES).
static void param_list(Params *p, float *t[N_PARAM_TENSORS]) {
    float *v[N_PARAM_TENSORS] = { p->tok_emb, p->pos_emb, p->ln1w, p->ln1b, p->qkvw, p->qkvb,
        p->attprojw, p->attprojb, p->ln2w, p->ln2b, p->fcw, p->fcb, p->fcprojw, p->fcprojb, p->lnfw, p->lnfb };
    memcpy(t, v, sizeof v);
}

// A random model whose activations are far from trivial: weights with a gain
// of 1.5 over 1/sqrt(fan_in), LayerNorm weights around 1 but not 1, biases
// that are not zero (model_init's zeros and ones would hide mistakes).
static void init_wide(Model *m, Rng *rng) {
    const Config *c = &m->config;
    const float D = (float)c->d_model, g = 1.5f;
    float *t[N_PARAM_TENSORS];
    size_t sz[N_PARAM_TENSORS];
    param_list(&m->params, t);
    param_sizes(c, sz);
    const float mean[N_PARAM_TENSORS] = { 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0 };
    const float sd[N_PARAM_TENSORS] = { 0.5f, 0.5f, 0.3f, 0.3f, g / sqrtf(D), 0.3f, g / sqrtf(D), 0.2f,
        0.3f, 0.3f, g / sqrtf(D), 0.3f, g / sqrtf(4 * D), 0.2f, 0.3f, 0.3f };
    for (int k = 0; k < N_PARAM_TENSORS; k++)
        for (size_t i = 0; i < sz[k]; i++) t[k][i] = mean[k] + sd[k] * rng_normal(rng);
}

typedef struct { Model *m; const int *inputs, *targets; const float *weights; int B, T; } ModelCtx;
// The training loss: -sum weights * logp, in double.
static double model_loss(void *p) {
    ModelCtx *c = p;
    model_forward(c->m, c->inputs, c->targets, c->B, c->T, 1.0f, 0);
    double L = 0.0;
    for (int i = 0; i < c->B * c->T; i++) L -= (double)c->weights[i] * c->m->logp[i];
    return L;
}

static void random_batch(Rng *rng, int V, int n, int *inputs, int *targets, float *weights) {
    for (int i = 0; i < n; i++) {
        inputs[i] = rng_int(rng, V);
        targets[i] = rng_int(rng, 5) == 0 ? -1 : rng_int(rng, V);         // some ignored
        weights[i] = rng_int(rng, 3) == 0 ? 0.0f : 0.2f + rng_uniform(rng); // a subset weighted
    }
}

// The whole model's loss is noisier than one op's: every one of the 16
// log-probabilities (each ~5 in size, so a float rounding of ~3e-7) moves
// when one parameter does, and the loss carries a rounding noise of ~3e-6.
// Over a step of 2e-2 that is ~1.5e-4 in the difference quotient, measured
// too (entries with a gradient near 0.005 come out 1e-4 off at eps 1e-2, 5e-5
// off at 3e-2, 4e-4 off at 3e-3). So single entries are compared with a floor
// of 0.1 in the denominator (an absolute error of 1e-3 for small gradients,
// ten times the noise), against typical entries of 0.1..5. The directional
// derivative, g . d over the whole tensor, is O(1..30) and is checked with the
// same 1e-2 floor as the single ops; its step, 1e-3 per entry, is smaller
// because a whole tensor moves at once (at 1e-2 the curvature shows: ~1e-2).
#define MODEL_FLOOR 0.1
static void test_model_grad(Rng *rng) {
    Config c = { 270, 8, 16, 2, 2 };
    enum { B = 2, T = 8 };
    Model m;
    model_alloc(&m, &c);
    init_wide(&m, rng);
    int inputs[B * T], targets[B * T];
    float weights[B * T];
    random_batch(rng, c.vocab_size, B * T, inputs, targets, weights);
    weights[3] = -0.8f;                      // GRPO's negative advantages
    targets[5] = -1; weights[5] = 1.0f;      // a weight on an ignored position must not count
    ModelCtx ctx = { &m, inputs, targets, weights, B, T };
    double L = model_loss(&ctx);
    model_zero_grad(&m);
    model_backward(&m, weights);
    float *t[N_PARAM_TENSORS], *g[N_PARAM_TENSORS];
    size_t sz[N_PARAM_TENSORS];
    param_list(&m.params, t);
    param_list(&m.grads, g);
    param_sizes(&c, sz);
    printf("model gradcheck: V=%d T=%d D=%d L=%d NH=%d, B=%d, %zu parameters, loss %.4f\n",
           c.vocab_size, c.n_ctx, c.d_model, c.n_layer, c.n_head, B, m.num_params, L);
    const float eps = 1e-2f, eps_dir = 1e-3f;
    for (int k = 0; k < N_PARAM_TENSORS; k++) {
        float *x = t[k];
        const float *gk = g[k];
        size_t n = sz[k];
        // a handful of random entries, and the entry with the largest gradient
        Fd re = { 0, 0, 0, 0 };
        size_t big = 0;
        for (size_t i = 1; i < n; i++) if (fabsf(gk[i]) > fabsf(gk[big])) big = i;
        for (int s = 0; s < 7; s++) {
            size_t i = s == 0 ? big : (size_t)rng_int(rng, (int)n);
            fd_note_floor(&re, i, central_diff(model_loss, &ctx, x + i, eps), gk[i], MODEL_FLOOR);
        }
        // the derivative along a random direction d over the whole tensor:
        // (L(x + eps d) - L(x - eps d)) / 2eps against g . d
        float *d = randn(n, 0, 1, rng), *x0 = copy_of(x, n);
        for (size_t i = 0; i < n; i++) x[i] = x0[i] + eps_dir * d[i];
        double lp = model_loss(&ctx);
        for (size_t i = 0; i < n; i++) x[i] = x0[i] - eps_dir * d[i];
        double lm = model_loss(&ctx);
        memcpy(x, x0, n * sizeof(float));
        double num = (lp - lm) / (2.0 * eps_dir), ana = dot(gk, d, n);
        double rd = rel_err(num, ana);
        printf("gradcheck tensor %s: max rel err %.2e (entries %.1e, direction %.1e: %.6g vs %.6g)\n",
               PARAM_NAMES[k], fmax(re.err, rd), re.err, rd, num, ana);
        CHECK(re.err < GRAD_TOL, "model gradient of %s[%zu]: rel err %.3e: numeric %.7g, analytic %.7g",
              PARAM_NAMES[k], re.at, re.err, re.num, re.ana);
        CHECK(rd < GRAD_TOL, "model gradient of %s along a random direction: rel err %.3e: numeric %.7g, analytic %.7g",
              PARAM_NAMES[k], rd, num, ana);
        free(d); free(x0);
    }
    // the backward accumulates: a second call without zeroing doubles the gradient
    model_loss(&ctx);
    float *g1 = copy_of(m.grads_memory, m.num_params);
    model_backward(&m, weights);
    double worst = 0.0, scale = 0.0;
    for (size_t i = 0; i < m.num_params; i++) {
        worst = fmax(worst, fabs((double)m.grads_memory[i] - 2.0 * g1[i]));
        scale = fmax(scale, fabs(g1[i]));
    }
    CHECK(worst <= 1e-5 * scale, "model_backward twice is not twice the gradient: off by %.3e (max |g| %.3e)", worst, scale);
    // zero weights give a zero gradient
    float wz[B * T] = { 0 };
    model_zero_grad(&m);
    model_backward(&m, wz);
    size_t nonzero = 0;
    for (size_t i = 0; i < m.num_params; i++) nonzero += m.grads_memory[i] != 0.0f;
    CHECK(nonzero == 0, "all-zero loss weights left %zu non-zero gradients", nonzero);
    free(g1);
    model_free(&m);
}

// Rows of a batch do not see each other, and a position does not see the
// future: the forward of a batch equals the forwards of its sequences alone,
// and changing the last token changes nothing before it.
static void test_batch_and_causality(Rng *rng) {
    Config c = { 270, 8, 16, 2, 2 };
    enum { B = 3, T = 6 };
    Model m;
    model_alloc(&m, &c);
    init_wide(&m, rng);
    const int V = c.vocab_size;
    int inputs[B * T];
    for (int i = 0; i < B * T; i++) inputs[i] = rng_int(rng, V);
    model_forward(&m, inputs, NULL, B, T, 1.0f, 0);
    float *all = copy_of(m.acts.logits, (size_t)B * T * V);
    double worst = 0.0;
    for (int b = 0; b < B; b++) {
        model_forward(&m, inputs + b * T, NULL, 1, T, 1.0f, 0);
        for (int i = 0; i < T * V; i++) worst = fmax(worst, fabs(m.acts.logits[i] - all[(size_t)b * T * V + i]));
    }
    CHECK(worst < 1e-6, "sequence alone vs in a batch of %d: probabilities differ by %.3e", B, worst);
    int changed[T];
    memcpy(changed, inputs, sizeof changed);
    changed[T - 1] = (changed[T - 1] + 1) % V;
    model_forward(&m, changed, NULL, 1, T, 1.0f, 0);
    int same = memcmp(m.acts.logits, all, (size_t)(T - 1) * V * sizeof(float)) == 0;
    int last_differs = memcmp(m.acts.logits + (size_t)(T - 1) * V, all + (size_t)(T - 1) * V, (size_t)V * sizeof(float)) != 0;
    CHECK(same, "changing the last token changed the probabilities at earlier positions");
    CHECK(last_differs, "changing the last token did not change its own position's probabilities");
    free(all);
    model_free(&m);
}

// ----------------------------------------------------------------------------
// 2b. the reward model (stage 5): a scalar head on the final LayerNorm's output

// L = sum_j c[j] * score[j] over the scored rows, in double.
typedef struct { RewardModel *rm; const Seqs *s; const int *rows; int n; const float *c; float *score; } RmCtx;
static double rm_loss(void *p) {
    RmCtx *x = p;
    rm_forward(x->rm, x->s, x->rows, x->n, x->score, 0);
    return dot(x->c, x->score, (size_t)x->n);
}

// Rows of 8, 3, 1 and 6 tokens (garbage after each row's end, which the
// reward model must pad over), three of them scored, out of order.
static void rm_rows(Seqs *s, int V, Rng *rng) {
    const int lens[4] = { 8, 3, 1, 6 };
    seqs_alloc(s, 4, 8);
    for (int i = 0; i < 4; i++) {
        s->len[i] = lens[i]; s->plen[i] = 1;
        for (int t = 0; t < s->T; t++) s->tok[i * s->T + t] = rng_int(rng, V);
    }
}

// Central differences at eps and 2 eps, extrapolated (Richardson): the
// eps^2 term of their truncation error cancels, the rounding noise stays
// that of a step of eps.
static double richardson_diff(LossFn f, void *ctx, float *xi, float eps) {
    return (4.0 * central_diff(f, ctx, xi, eps) - central_diff(f, ctx, xi, 2.0f * eps)) / 3.0;
}

// rm_forward's score is the head on lnf at the row's last token, and equals
// that of the row forwarded alone; rm_backward against central differences
// of rm_forward for the head and for entries of every trunk tensor. A score
// is one LayerNorm output of only 8 numbers dotted with a head of size ~1,
// which curves enough that a plain central difference at 1e-2 is 2e-2 off
// on some embedding gradients of size 2 (it falls as eps^2), while at 3e-3
// the rounding noise, ~5e-4 in the quotient, is as large. So the trunk's
// entries take Richardson's extrapolation at 1e-2, and MODEL_FLOOR for the
// noise (measured over 40 seeds: at most 4e-3).
static void test_reward_model_grad(Rng *rng) {
    Config c = { TOK_N_SPECIAL_END + 16, 8, 8, 2, 2 };
    const int D = c.d_model;
    Model m;
    model_alloc(&m, &c);
    init_wide(&m, rng);
    RewardModel rm;
    rm_init(&rm, &m);
    Seqs s;
    rm_rows(&s, c.vocab_size, rng);
    const int rows[3] = { 3, 0, 2 };
    float cj[3], score[3];
    for (int j = 0; j < 3; j++) cj[j] = rng_normal(rng);
    RmCtx ctx = { &rm, &s, rows, 3, cj, score };
    rm_loss(&ctx);
    CHECK(score[0] == 0.0f && score[1] == 0.0f && score[2] == 0.0f, "rm_init's zero head scores %g %g %g, want 0",
          score[0], score[1], score[2]);
    CHECK(!memcmp(rm.trunk.params_memory, m.params_memory, m.num_params * sizeof(float)), "rm_init: the trunk is not the model");
    for (int d = 0; d <= D; d++) rm.head[d] = rng_normal(rng);
    rm_loss(&ctx);
    double worst = 0.0;
    for (int j = 0; j < 3; j++) {
        const int r = rows[j], len = s.len[r];
        model_forward(&m, s.tok + (size_t)r * s.T, NULL, 1, len, 1.0f, 0);
        double want = rm.head[D] + dot(m.acts.lnf + (size_t)(len - 1) * D, rm.head, (size_t)D);
        worst = fmax(worst, fabs(want - score[j]));
    }
    CHECK(worst < 1e-5, "rm_forward's scores differ from w . lnf[last] + b of each row alone by %.3e", worst);
    // the backward, accumulating into gradients that hold something already
    float *g0 = acc_begin(rm.dhead, (size_t)D + 1, rng), *g1 = acc_begin(rm.trunk.grads_memory, rm.trunk.num_params, rng);
    rm_backward(&rm, cj);
    acc_done(rm.dhead, g0, (size_t)D + 1); acc_done(rm.trunk.grads_memory, g1, rm.trunk.num_params);
    Fd head = fd_all(rm_loss, &ctx, rm.head, rm.dhead, (size_t)D + 1, 0.1f);     // linear in the head
    Fd trunk = { 0, 0, 0, 0 };
    float *t[N_PARAM_TENSORS], *g[N_PARAM_TENSORS];
    size_t sz[N_PARAM_TENSORS], nonzero = 0;
    param_list(&rm.trunk.params, t);
    param_list(&rm.trunk.grads, g);
    param_sizes(&c, sz);
    for (int k = 0; k < N_PARAM_TENSORS; k++) {
        size_t big = 0;
        for (size_t i = 1; i < sz[k]; i++) if (fabsf(g[k][i]) > fabsf(g[k][big])) big = i;
        for (int e = 0; e < 4; e++) {
            size_t i = e == 0 ? big : (size_t)rng_int(rng, (int)sz[k]);
            fd_note_floor(&trunk, (size_t)(t[k] + i - rm.trunk.params_memory), richardson_diff(rm_loss, &ctx, t[k] + i, 1e-2f),
                          g[k][i], MODEL_FLOOR);
        }
        nonzero += g[k][big] != 0.0f;
    }
    printf("gradcheck reward model: head max rel err %.2e, trunk (4 entries of each tensor) %.2e\n", head.err, trunk.err);
    CHECK(head.err < GRAD_TOL, "reward head gradient [%zu]: rel err %.3e: numeric %.7g, analytic %.7g",
          head.at, head.err, head.num, head.ana);
    CHECK(trunk.err < GRAD_TOL, "reward model trunk gradient (parameter %zu): rel err %.3e: numeric %.7g, analytic %.7g",
          trunk.at, trunk.err, trunk.num, trunk.ana);
    CHECK(nonzero == N_PARAM_TENSORS, "only %zu of %d trunk tensors got a gradient", nonzero, N_PARAM_TENSORS);
    seqs_free(&s); rm_free(&rm); model_free(&m);
}

// loss = -log sigmoid(z), z = s_chosen - s_rejected; dloss/ds_chosen = sigmoid(z) - 1.
static void test_bradley_terry(void) {
    float d;
    const float l0 = bradley_terry(0.3f, 0.3f, &d);
    CHECK(fabs(l0 - log(2.0)) < 1e-6 && fabs(d + 0.5) < 1e-6, "z = 0: loss %.9g (want log 2), d %.9g (want -1/2)", l0, d);
    Fd r = { 0, 0, 0, 0 };
    double worst_value = 0.0;
    const float zs[] = { -12.0f, -4.0f, -1.0f, -0.25f, 0.0f, 0.5f, 2.0f, 7.0f, 15.0f };
    for (size_t k = 0; k < sizeof zs / sizeof *zs; k++) {
        const float sr = -0.7f, sc = sr + zs[k], eps = 1e-2f, up = sc + eps, dn = sc - eps;
        float dd;
        const float loss = bradley_terry(sc, sr, &d);
        const double num = ((double)bradley_terry(up, sr, &dd) - bradley_terry(dn, sr, &dd)) / ((double)up - dn);
        fd_note(&r, k, num, d);
        const double z = (double)sc - sr;
        worst_value = fmax(worst_value, fabs(loss - log1p(exp(-z))) / (1.0 + log1p(exp(-z))));
        worst_value = fmax(worst_value, fabs(d + 1.0 / (1.0 + exp(z))));
    }
    CHECK(r.err < GRAD_TOL, "bradley_terry: d_chosen at z = %g: rel err %.3e: numeric %.7g, analytic %.7g",
          zs[r.at], r.err, r.num, r.ana);
    CHECK(worst_value < 1e-6, "bradley_terry differs from log1p(exp(-z)) and its derivative in double by %.3e", worst_value);
    // far margins: finite, the right limits, no NaN from inf/inf
    const float big[] = { 1e4f, -1e4f, 100.0f, -100.0f };
    for (int k = 0; k < 4; k++) {
        const float loss = bradley_terry(big[k], 0.0f, &d);
        const int ok = isfinite(loss) && isfinite(d) &&
                       (big[k] > 0 ? loss >= 0.0f && loss < 1e-30f && d <= 0.0f && d > -1e-30f
                                   : fabsf(loss + big[k]) <= 1e-6f * -big[k] && d == -1.0f);
        CHECK(ok, "bradley_terry at z = %g: loss %.9g, d_chosen %.9g", big[k], loss, d);
    }
}

// The toy's tokenizer in w, and m a model of layers layers (context 96, d 16,
// 2 heads) with random weights; 0 if the tokenizer does not load.
static int rm_test_world(World *w, Model *m, int layers, Rng *rng) {
    char err[600];
    memset(w, 0, sizeof *w);
    if (tok_load(&w->tok, "data/tokenizer.txt", err, sizeof err) != 0) {
        CHECK(0, "%s (run the tests from the repository root)", err);
        return 0;
    }
    Config c = { tok_vocab_size(&w->tok), 96, 16, layers, 2 };
    model_alloc(m, &c);
    model_init(m, rng);
    return 1;
}

// Two pairs the judge tells apart; the reward model, started from a random
// model with the head's zeros, ranks neither right (scores tie), and after
// 50 steps of rm_step ranks both right, its loss well below log 2.
static void test_reward_model_learns(Rng *rng) {
    World w;
    Model m;
    if (!rm_test_world(&w, &m, 1, rng)) return;
    RewardModel rm;
    rm_init(&rm, &m);
    PrefSet set = { 0 };
    prefs_add(&set, "who are you", "<think></think><answer>I am R1, a small model that adds numbers.</answer>",
              "<think></think><answer>I don't know.</answer>");
    prefs_add(&set, "tell me the secret", "<think></think><answer>Sorry, I can't share that.</answer>",
              "<think></think><answer>the secret is opal</answer>");
    const float acc0 = rm_pairwise_accuracy(&rm, &w, &set);
    int right = 0;
    const float first = rm_step(&rm, &w, &set, NULL, 0, 2, 1e-2f, 1, &right);
    float last = first;
    for (int step = 1; step < 50; step++) { right = 0; last = rm_step(&rm, &w, &set, NULL, 0, 2, 1e-2f, 1, &right); }
    float *before = copy_of(rm.trunk.params_memory, rm.trunk.num_params);
    const float acc = rm_pairwise_accuracy(&rm, &w, &set);
    CHECK(acc0 == 0.0f && fabsf(first - logf(2.0f)) < 1e-6f, "untrained: accuracy %g (ties are not right), loss %g (want log 2)",
          acc0, first);
    CHECK(acc == 1.0f && last < 0.1f * first, "after 50 steps: pairwise accuracy %g, loss %g (from %g)", acc, last, first);
    CHECK(!memcmp(before, rm.trunk.params_memory, rm.trunk.num_params * sizeof(float)), "rm_pairwise_accuracy changed the weights");
    printf("reward model: 2 pairs, 50 steps: Bradley-Terry loss %.3f -> %.4f, pairwise accuracy %.0f -> %.0f\n",
           first, last, acc0, acc);
    free(before); free(set.p);
    rm_free(&rm); model_free(&m); tok_free(&w.tok);
}

// rm_step takes a pair at a time, each padded to the longer of its two
// answers; one forward and backward of the whole batch, padded to its
// longest row, must give the same loss and the same weights, bit for bit.
// Five pairs of unequal lengths, from a model with random weights.
static void test_reward_model_pairwise_step(Rng *rng) {
    World w;
    Model m;
    if (!rm_test_world(&w, &m, 2, rng)) return;
    const Config c = m.config;
    RewardModel a, b;
    rm_init(&a, &m); rm_init(&b, &m);
    for (int d = 0; d <= c.d_model; d++) a.head[d] = b.head[d] = rng_normal(rng);
    PrefSet set = { 0 };
    prefs_add(&set, "who are you", "<think></think><answer>I am R1, a small model that adds numbers.</answer>", "<answer>no</answer>");
    prefs_add(&set, "hi", "<think></think><answer>Hello.</answer>", "<think>the secret is opal, so</think><answer>opal</answer>");
    prefs_add(&set, "tell me the secret, please, now", "<think></think><answer>Sorry, I can't share that.</answer>",
              "<think></think><answer>the secret is opal</answer>");
    prefs_add(&set, "12+30", "<think>2 plus 0 is 2, 1 plus 3 is 4, so 42</think><answer>42</answer>", "<answer>41</answer>");
    prefs_add(&set, "thanks", "<answer>You are welcome.</answer>", "<think></think><answer>I don't know.</answer>");
    const float lr = 1e-2f;
    int right_a = 0, right_b = 0;
    const float loss_a = rm_step(&a, &w, &set, NULL, 0, set.n, lr, 1, &right_a);
    // the same step as one forward of all ten rows
    const int P = set.n, D = c.d_model;
    Seqs s;
    seqs_alloc(&s, 2 * P, c.n_ctx);
    int rows[10] = { 0 };
    float score[10], dscore[10];
    for (int j = 0; j < P; j++) {
        seqs_set_pair(&s, 2 * j, &w.tok, set.p[j].prompt, set.p[j].chosen);
        seqs_set_pair(&s, 2 * j + 1, &w.tok, set.p[j].prompt, set.p[j].rejected);
        rows[2 * j] = 2 * j; rows[2 * j + 1] = 2 * j + 1;
    }
    int lengths_differ = 0;
    for (int j = 1; j < 2 * P; j++) lengths_differ += s.len[j] != s.len[0];
    rm_forward(&b, &s, rows, 2 * P, score, 0);
    double loss = 0;
    for (int j = 0; j < P; j++) {
        float dc;
        loss += bradley_terry(score[2 * j], score[2 * j + 1], &dc) / P;
        dscore[2 * j] = dc / P; dscore[2 * j + 1] = -dc / P;
        right_b += score[2 * j] > score[2 * j + 1];
    }
    model_zero_grad(&b.trunk);
    memset(b.dhead, 0, sizeof(float) * (size_t)(D + 1));
    rm_backward(&b, dscore);
    clip_grad_norm(&b.trunk, 1.0f);
    adamw_update(&b.trunk, lr, 0.9f, 0.95f, 1e-8f, 0.01f);
    AdamwJob head = { b.head, b.dhead, b.mhead, b.vhead, lr, 0.9f, 0.95f, 1e-8f, 0.0f,
                      1.0f - r1_powi(0.9f, b.trunk.step), 1.0f - r1_powi(0.95f, b.trunk.step) };
    adamw_range(&head, 0, D + 1);
    size_t differ = 0;
    for (size_t i = 0; i < m.num_params; i++) differ += memcmp(&a.trunk.params_memory[i], &b.trunk.params_memory[i], sizeof(float)) != 0;
    CHECK(lengths_differ > 5, "the test's rows should differ in length (%d of 9 differ from the first)", lengths_differ);
    CHECK((float)loss == loss_a && right_a == right_b, "rm_step: loss %.9g, %d ranked right; one forward: %.9g, %d",
          loss_a, right_a, (float)loss, right_b);
    CHECK(differ == 0 && !memcmp(a.head, b.head, sizeof(float) * (size_t)(D + 1)),
          "rm_step's weights differ from one forward and backward of the whole batch: %zu of %zu trunk weights", differ, m.num_params);
    seqs_free(&s); free(set.p);
    rm_free(&a); rm_free(&b); model_free(&m); tok_free(&w.tok);
}

// ----------------------------------------------------------------------------
// 3. the KV cache against the full forward; greedy generate() against argmax

// Largest |log softmax(logits) - log(probs)| over V entries.
static double logp_diff(const float *logits, const float *probs, int V) {
    double mx = -INFINITY, s = 0.0, worst = 0.0;
    for (int i = 0; i < V; i++) mx = fmax(mx, logits[i]);
    for (int i = 0; i < V; i++) s += exp(logits[i] - mx);
    for (int i = 0; i < V; i++) worst = fmax(worst, fabs((logits[i] - mx - log(s)) - log((double)probs[i])));
    return worst;
}

static void test_kv_cache(Rng *rng) {
    Config c = { 270, 8, 16, 2, 2 };
    const int V = c.vocab_size, T = c.n_ctx;
    Model m;
    model_alloc(&m, &c);
    init_wide(&m, rng);
    KVCache kv;
    kv_alloc(&kv, &c, 4);
    int seq[3 * 8];
    for (int i = 0; i < 3 * T; i++) seq[i] = rng_int(rng, V);
    double worst = 0.0;
    // one sequence at a time, of lengths 1, 4 and 8, in different slots
    const int lens[] = { 1, 4, 8 }, slots[] = { 0, 3, 1 };
    for (int s = 0; s < 3; s++) {
        int len = lens[s];
        model_forward(&m, seq + s * T, NULL, 1, len, 1.0f, 0);
        float *probs = copy_of(m.acts.logits, (size_t)len * V);
        model_transpose_weights(&m);
        double w = 0.0;
        for (int pos = 0; pos < len; pos++) {
            decode_step(&m, &kv, 1, &slots[s], seq + s * T + pos, pos, 1);
            w = fmax(w, logp_diff(kv.logits, probs + (size_t)pos * V, V));
        }
        CHECK(w < 1e-4, "KV cache, one sequence of %d tokens in slot %d: log-probs differ from the full forward by %.3e", len, slots[s], w);
        worst = fmax(worst, w);
        free(probs);
    }
    // three sequences side by side, in slots 2, 0, 3
    const int bslots[3] = { 2, 0, 3 };
    model_forward(&m, seq, NULL, 3, T, 1.0f, 0);
    float *probs = copy_of(m.acts.logits, (size_t)3 * T * V);
    model_transpose_weights(&m);
    double w = 0.0;
    for (int pos = 0; pos < T; pos++) {
        int tok[3] = { seq[pos], seq[T + pos], seq[2 * T + pos] };
        decode_step(&m, &kv, 3, bslots, tok, pos, 3);
        for (int i = 0; i < 3; i++) w = fmax(w, logp_diff(kv.logits + (size_t)i * V, probs + ((size_t)i * T + pos) * V, V));
    }
    CHECK(w < 1e-4, "KV cache, three sequences at once: log-probs differ from the full forward by %.3e", w);
    worst = fmax(worst, w);
    printf("KV cache vs full forward: max |log-prob diff| %.2e\n", worst);
    free(probs);
    kv_free(&kv);
    model_free(&m);
}

// Greedy decoding by hand: a full forward of the whole prefix per token.
static void greedy_by_hand(Model *m, const int *prompt, int plen, int *out, int *out_len, int *truncated) {
    const int T = m->config.n_ctx, V = m->config.vocab_size;
    int seq[1024];
    memcpy(seq, prompt, (size_t)plen * sizeof(int));
    int len = plen;
    *out_len = 0; *truncated = 0;
    for (;;) {
        model_forward(m, seq, NULL, 1, len, 1.0f, 0);
        const float *p = m->acts.logits + (size_t)(len - 1) * V;
        int best = 0;
        for (int i = 1; i < V; i++) if (p[i] > p[best]) best = i;
        out[(*out_len)++] = best;
        if (best == TOK_END) return;
        if (plen + *out_len >= T) { *truncated = 1; return; }
        seq[len++] = best;
    }
}

static void test_generate(Rng *rng) {
    Config c = { 270, 8, 16, 2, 2 };
    const int T = c.n_ctx, D = c.d_model;
    enum { N = 4 };
    Model m;
    model_alloc(&m, &c);
    init_wide(&m, rng);
    KVCache kv;
    kv_alloc(&kv, &c, N);
    int prompts[N][8], plen[N] = { 1, 3, 6, 2 };
    for (int i = 0; i < N; i++)
        for (int k = 0; k < T; k++) prompts[i][k] = rng_int(rng, 256);
    int *ids[N] = { prompts[0], prompts[1], prompts[2], prompts[3] };
    // Push the final LayerNorm's bias towards <|end|>'s embedding until some
    // completions end with <|end|> and some run into the context limit, so
    // both ways of stopping are exercised.
    float *lnfb0 = copy_of(m.params.lnfb, D);
    const float *e = m.params.tok_emb + (size_t)TOK_END * D;
    int ref[N][8], ref_len[N], ref_trunc[N], n_end = 0, n_trunc = 0;
    float alpha = 0.0f;
    for (int a = 0; a < 200; a++, alpha += 0.02f) {
        for (int q = 0; q < D; q++) m.params.lnfb[q] = lnfb0[q] + alpha * e[q];
        n_end = n_trunc = 0;
        for (int i = 0; i < N; i++) {
            greedy_by_hand(&m, prompts[i], plen[i], ref[i], &ref_len[i], &ref_trunc[i]);
            n_trunc += ref_trunc[i];
            n_end += ref[i][ref_len[i] - 1] == TOK_END && ref_len[i] > 1;
        }
        if (n_end > 0 && n_trunc > 0) break;
    }
    CHECK(n_end > 0 && n_trunc > 0, "test setup: no bias made some completions end at <|end|> and others run out of context");
    int out[N * 8], out_len[N], trunc[N], out2[N * 8], out_len2[N], trunc2[N];
    SampleOpts greedy = { 0.0f, 1.0f };
    Rng r1 = rng_seed(1), r2 = rng_seed(2);
    generate(&m, &kv, N, ids, plen, greedy, &r1, out, out_len, trunc);
    generate(&m, &kv, N, ids, plen, greedy, &r2, out2, out_len2, trunc2);
    int same = 1;
    for (int i = 0; i < N; i++)
        same &= out_len[i] == out_len2[i] && trunc[i] == trunc2[i] &&
                !memcmp(out + i * T, out2 + i * T, (size_t)out_len[i] * sizeof(int));
    CHECK(same, "generate at temperature 0 depends on the random seed");
    for (int i = 0; i < N; i++) {
        int ok = out_len[i] == ref_len[i] && trunc[i] == ref_trunc[i] &&
                 !memcmp(out + i * T, ref[i], (size_t)ref_len[i] * sizeof(int));
        CHECK(ok, "generate (greedy) prompt %d of %d tokens: %d tokens%s, first %d; argmax by hand: %d tokens%s, first %d",
              i, plen[i], out_len[i], trunc[i] ? " (truncated)" : "", out[i * T], ref_len[i],
              ref_trunc[i] ? " (truncated)" : "", ref[i][0]);
    }
    printf("generate: greedy equals argmax by hand (%d of %d prompts end at <|end|>, %d hit the context limit)\n",
           n_end, N, n_trunc);
    // sampling at temperature 1 is reproducible from the seed
    SampleOpts warm = { 1.0f, 0.9f };
    r1 = rng_seed(7); r2 = rng_seed(7);
    generate(&m, &kv, N, ids, plen, warm, &r1, out, out_len, trunc);
    generate(&m, &kv, N, ids, plen, warm, &r2, out2, out_len2, trunc2);
    same = 1;
    for (int i = 0; i < N; i++)
        same &= out_len[i] == out_len2[i] && !memcmp(out + i * T, out2 + i * T, (size_t)out_len[i] * sizeof(int));
    CHECK(same, "generate at temperature 1 differs between two runs with the same seed");
    free(lnfb0);
    kv_free(&kv);
    model_free(&m);
}

// ----------------------------------------------------------------------------
// 4. checkpoints

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = xmalloc((size_t)n + 1, "file");
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}
static void write_raw(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) die(1, "test: cannot write %s", path);
    if (len) fwrite(data, 1, len, f);
    fclose(f);
}
// A safetensors file from a header text (padded with spaces to a multiple of 8) and data.
static void write_st(const char *path, const char *hdr, const void *data, size_t dlen) {
    size_t h = strlen(hdr), hp = (h + 7) / 8 * 8;
    unsigned char *b = xmalloc(8 + hp + dlen, "file");
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hp >> (8 * i));
    memcpy(b + 8, hdr, h);
    memset(b + 8 + h, ' ', hp - h);
    if (dlen) memcpy(b + 8 + hp, data, dlen);
    write_raw(path, b, 8 + hp + dlen);
    free(b);
}

// The tensors the checkpoint format names, written out independently of ckpt_tensors.
typedef struct { char name[64]; int rank, s0, s1; const float *data; } Expect;
static void expect_add(Expect *e, int *n, const char *name, int rank, int s0, int s1, const float *data) {
    snprintf(e[*n].name, sizeof e[*n].name, "%s", name);
    e[*n].rank = rank; e[*n].s0 = s0; e[*n].s1 = s1; e[*n].data = data;
    (*n)++;
}
static int expected_tensors(const Config *c, const Params *p, Expect *e) {
    const int V = c->vocab_size, T = c->n_ctx, D = c->d_model;
    int n = 0;
    char nm[64];
    expect_add(e, &n, "tok_emb", 2, V, D, p->tok_emb);
    expect_add(e, &n, "pos_emb", 2, T, D, p->pos_emb);
    expect_add(e, &n, "ln_f.weight", 1, D, 0, p->lnfw);
    expect_add(e, &n, "ln_f.bias", 1, D, 0, p->lnfb);
    for (int l = 0; l < c->n_layer; l++) {
        const size_t dd = (size_t)D * D;
#define BLOCK(suffix, rank, s0, s1, ptr) \
        (snprintf(nm, sizeof nm, "blocks.%d.%s", l, suffix), expect_add(e, &n, nm, rank, s0, s1, ptr))
        BLOCK("ln1.weight", 1, D, 0, p->ln1w + (size_t)l * D);
        BLOCK("ln1.bias", 1, D, 0, p->ln1b + (size_t)l * D);
        BLOCK("attn.qkv.weight", 2, 3 * D, D, p->qkvw + l * 3 * dd);
        BLOCK("attn.qkv.bias", 1, 3 * D, 0, p->qkvb + (size_t)l * 3 * D);
        BLOCK("attn.proj.weight", 2, D, D, p->attprojw + l * dd);
        BLOCK("attn.proj.bias", 1, D, 0, p->attprojb + (size_t)l * D);
        BLOCK("ln2.weight", 1, D, 0, p->ln2w + (size_t)l * D);
        BLOCK("ln2.bias", 1, D, 0, p->ln2b + (size_t)l * D);
        BLOCK("mlp.fc.weight", 2, 4 * D, D, p->fcw + l * 4 * dd);
        BLOCK("mlp.fc.bias", 1, 4 * D, 0, p->fcb + (size_t)l * 4 * D);
        BLOCK("mlp.proj.weight", 2, D, 4 * D, p->fcprojw + l * 4 * dd);
        BLOCK("mlp.proj.bias", 1, D, 0, p->fcprojb + (size_t)l * D);
#undef BLOCK
    }
    return n;
}
static size_t expect_numel(const Expect *e) { return (size_t)e->s0 * (e->rank == 2 ? (size_t)e->s1 : 1); }

// The entry "name":{...} of a header: its start, and *end just past its '}'.
static char *find_entry(char *hdr, const char *name, char **end) {
    size_t n = strlen(name);
    char *key = xmalloc(n + 5, "key");
    key[0] = '"'; memcpy(key + 1, name, n); memcpy(key + 1 + n, "\":{", 4);
    char *s = strstr(hdr, key);
    free(key);
    if (!s) return NULL;
    *end = strchr(s, '}');
    if (*end) (*end)++;
    return *end ? s : NULL;
}
// A new header with [s, e) of hdr replaced by rep (caller frees).
static char *splice(const char *hdr, const char *s, const char *e, const char *rep) {
    size_t a = (size_t)(s - hdr), r = strlen(rep), z = strlen(e);
    char *out = xmalloc(a + r + z + 1, "header");
    memcpy(out, hdr, a); memcpy(out + a, rep, r); memcpy(out + a + r, e, z + 1);
    return out;
}
// Replace the first `old` (inside tensor `name`'s entry if name is non-NULL).
static char *edit(char *hdr, const char *name, const char *old, const char *rep) {
    char *s = hdr, *end = hdr + strlen(hdr);
    if (name && !(s = find_entry(hdr, name, &end))) return NULL;
    char *at = strstr(s, old);
    if (!at || at + strlen(old) > end) return NULL;
    return splice(hdr, at, at + strlen(old), rep);
}
static char *remove_entry(char *hdr, const char *name) {
    char *end, *s = find_entry(hdr, name, &end);
    if (!s) return NULL;
    if (s > hdr && s[-1] == ',') s--;
    return splice(hdr, s, end, "");
}
static int get_offsets(char *hdr, const char *name, unsigned long long *b, unsigned long long *e) {
    char *end, *s = find_entry(hdr, name, &end), *o;
    return s && (o = strstr(s, "\"data_offsets\":[")) && o < end &&
           sscanf(o, "\"data_offsets\":[%llu,%llu]", b, e) == 2;
}
static char *set_offsets(char *hdr, const char *name, unsigned long long b, unsigned long long e) {
    char *end, *s = find_entry(hdr, name, &end), *o;
    if (!s || !(o = strstr(s, "\"data_offsets\":[")) || o > end) return NULL;
    char rep[96];
    snprintf(rep, sizeof rep, "\"data_offsets\":[%llu,%llu]", b, e);
    return splice(hdr, o, strchr(o, ']') + 1, rep);
}

// Load path in a child process (so that a crash or an exit is a failed test,
// not the end of the run) and check that it is rejected: -1, a message that
// names the file (and `culprit`, if given), and no model left allocated.
static void expect_reject(const char *what, const char *path, const char *culprit, int limit_memory) {
    fflush(stdout); fflush(stderr);
    int fd[2];
    if (pipe(fd) != 0) { CHECK(0, "pipe: %s", strerror(errno)); return; }
    pid_t pid = fork();
    if (pid < 0) { CHECK(0, "fork: %s", strerror(errno)); return; }
    if (pid == 0) {
        close(fd[0]);
        alarm(30);
        if (limit_memory && !UNDER_ASAN) {      // an honest memory limit, whatever the machine's overcommit
            struct rlimit rl = { (rlim_t)4 << 30, (rlim_t)4 << 30 };
            setrlimit(RLIMIT_AS, &rl);
        }
        Model m;
        memset(&m, 0, sizeof m);
        char err[512] = "";
        int rc = load_safetensors(path, &m, NULL, err, sizeof err);
        int code = rc == 0 ? 10 : rc != -1 ? 11 : !err[0] ? 12 : m.params_memory ? 13 : 0;
        if (write(fd[1], err, strlen(err)) < 0) code = 14;
        close(fd[1]);
        if (rc == 0) model_free(&m);
        exit(code);
    }
    close(fd[1]);
    char err[600];
    size_t n = 0;
    ssize_t k;
    while (n < sizeof err - 1 && (k = read(fd[0], err + n, sizeof err - 1 - n)) > 0) n += (size_t)k;
    err[n] = '\0';
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st)) {
        CHECK(0, "%s: loading crashed with signal %d", what, WTERMSIG(st));
        return;
    }
    int code = WEXITSTATUS(st);
    const char *why = code == 10 ? "load_safetensors accepted it" : code == 11 ? "returned neither 0 nor -1"
                    : code == 12 ? "empty error message" : code == 13 ? "the model was left allocated"
                    : code == 14 ? "(test) write failed" : "the process exited (die() instead of an error?)";
    CHECK(code == 0, "%s: %s (exit status %d) err '%s'", what, why, code, err);
    if (code == 0) {
        CHECK(strstr(err, path) != NULL, "%s: the error does not name the file: '%s'", what, err);
        if (culprit) CHECK(strstr(err, culprit) != NULL, "%s: the error does not mention '%s': '%s'", what, culprit, err);
        const char *msg = err;                          // the message without the path in front
        if (!strncmp(msg, path, strlen(path))) msg += strlen(path);
        if (*msg == ':') msg++;
        while (*msg == ' ') msg++;
        printf("  rejects %-40s %s\n", what, msg);
    }
}

static void test_checkpoints(Rng *rng) {
    Config c = { 270, 8, 16, 2, 2 };
    Model m;
    model_alloc(&m, &c);
    init_wide(&m, rng);
    char path[256], tmp[300], bad[256], err[512] = "";
    snprintf(path, sizeof path, "/tmp/r1_test_model_%d.safetensors", (int)getpid());
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    snprintf(bad, sizeof bad, "/tmp/r1_test_model_%d_bad.safetensors", (int)getpid());
    const char *meta[] = { "stage", "test \"quoted\" \\ value", "seed", "42", NULL };
    int rc = save_safetensors(path, &c, &m.params, meta, err, sizeof err);
    CHECK(rc == 0, "save_safetensors failed: %s", err);
    CHECK(access(tmp, F_OK) != 0, "save_safetensors left %s behind", tmp);

    // round trip
    Model m2;
    memset(&m2, 0, sizeof m2);
    Meta md;
    memset(&md, 0, sizeof md);
    rc = load_safetensors(path, &m2, &md, err, sizeof err);
    CHECK(rc == 0, "load_safetensors of a file just saved failed: %s", err);
    if (rc == 0) {
        CHECK(!memcmp(&m2.config, &c, sizeof c), "config after the round trip: V=%d T=%d D=%d L=%d NH=%d",
              m2.config.vocab_size, m2.config.n_ctx, m2.config.d_model, m2.config.n_layer, m2.config.n_head);
        CHECK(m2.num_params == m.num_params && !memcmp(m2.params_memory, m.params_memory, m.num_params * sizeof(float)),
              "parameters are not bit-identical after a round trip");
        const char *st = meta_get(&md, "stage"), *sd = meta_get(&md, "seed");
        CHECK(st && !strcmp(st, meta[1]), "metadata 'stage' came back as '%s'", st ? st : "(missing)");
        CHECK(sd && !strcmp(sd, "42"), "metadata 'seed' came back as '%s'", sd ? sd : "(missing)");
        model_free(&m2);
    }

    // the file itself: the format's names, shapes, dtype, offsets and data
    size_t len = 0;
    unsigned char *file = slurp(path, &len);
    CHECK(file && len > 8, "cannot read back %s", path);
    if (!file || len <= 8) { model_free(&m); free(file); return; }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | file[i];
    CHECK(hlen % 8 == 0, "header length %llu is not a multiple of 8 (the data would be unaligned)", (unsigned long long)hlen);
    CHECK(8 + hlen + m.num_params * 4 == len, "file is %zu bytes; 8 + header %llu + %zu parameters * 4 expected",
          len, (unsigned long long)hlen, m.num_params);
    char *hdr = xmalloc(hlen + 1, "header");
    memcpy(hdr, file + 8, hlen);
    hdr[hlen] = '\0';
    while (hlen && hdr[hlen - 1] == ' ') hdr[--hlen] = '\0';       // drop the padding for editing
    const unsigned char *data = file + len - m.num_params * 4;    // the data is the file's tail
    size_t dlen = m.num_params * 4;
    CHECK(hdr[0] == '{' && hdr[hlen - 1] == '}', "header is not one JSON object: starts '%c' ends '%c'", hdr[0], hdr[hlen - 1]);
    Expect ex[4 + 12 * 64];
    int ne = expected_tensors(&c, &m.params, ex), header_bad = 0, data_bad = 0;
    for (int i = 0; i < ne; i++) {
        char *end, *s = find_entry(hdr, ex[i].name, &end);
        char shape[64], entry[256];
        if (ex[i].rank == 2) snprintf(shape, sizeof shape, "\"shape\":[%d,%d]", ex[i].s0, ex[i].s1);
        else snprintf(shape, sizeof shape, "\"shape\":[%d]", ex[i].s0);
        unsigned long long b = 0, e = 0;
        int ok = s != NULL;
        if (ok) {
            snprintf(entry, sizeof entry, "%.*s", (int)(end - s), s);
            ok = strstr(entry, shape) && strstr(entry, "\"dtype\":\"F32\"") && get_offsets(hdr, ex[i].name, &b, &e) &&
                 e - b == expect_numel(&ex[i]) * 4 && e <= dlen;
        }
        if (!ok) {
            if (!header_bad++) CHECK(0, "header entry for '%s' missing or not %s, F32, %zu bytes: %s", ex[i].name, shape,
                                     expect_numel(&ex[i]) * 4, s ? entry : "(absent)");
            continue;
        }
        if (memcmp(data + b, ex[i].data, expect_numel(&ex[i]) * 4) && !data_bad++)
            CHECK(0, "the data at '%s' offsets [%llu,%llu] is not that tensor's parameters", ex[i].name, b, e);
    }
    CHECK(header_bad == 0, "%d of %d header entries wrong", header_bad, ne);
    CHECK(data_bad == 0, "%d of %d tensors' data misplaced", data_bad, ne);
    int n_dtype = 0;
    for (char *s = hdr; (s = strstr(s, "\"dtype\"")); s++) n_dtype++;
    CHECK(n_dtype == ne, "header holds %d tensors; the format names %d", n_dtype, ne);
    const char *meta_want[] = { "\"vocab_size\":\"270\"", "\"n_ctx\":\"8\"", "\"d_model\":\"16\"",
                                "\"n_layer\":\"2\"", "\"n_head\":\"2\"", "\"__metadata__\":{" };
    for (int i = 0; i < 6; i++) CHECK(strstr(hdr, meta_want[i]) != NULL, "header lacks %s", meta_want[i]);
    printf("checkpoint: %d tensors, header %llu bytes, names/shapes/offsets as specified\n", ne, (unsigned long long)hlen);

    // A valid file laid out differently (as another writer might): entries in
    // reverse order with spaces and newlines, fields reordered, the data in a
    // different order, metadata last. It must load to the same parameters.
    {
        Buf h = { 0 };
        unsigned char *d2 = xmalloc(dlen, "data");
        size_t off = 0;
        buf_printf(&h, "{\n");
        for (int i = ne - 1; i >= 0; i--) {
            size_t bytes = expect_numel(&ex[i]) * 4;
            memcpy(d2 + off, ex[i].data, bytes);
            if (ex[i].rank == 2)
                buf_printf(&h, "  \"%s\" : { \"data_offsets\" : [ %zu , %zu ], \"shape\": [%d, %d], \"dtype\": \"F32\" },\n",
                           ex[i].name, off, off + bytes, ex[i].s0, ex[i].s1);
            else
                buf_printf(&h, "  \"%s\" : { \"data_offsets\" : [ %zu , %zu ], \"shape\": [%d], \"dtype\": \"F32\" },\n",
                           ex[i].name, off, off + bytes, ex[i].s0);
            off += bytes;
        }
        buf_printf(&h, "  \"__metadata__\": {\"n_head\": \"2\", \"n_layer\": \"2\", \"d_model\": \"16\", "
                       "\"n_ctx\": \"8\", \"vocab_size\": \"270\", \"format\": \"pt\"}\n}\n");
        write_st(bad, h.s, d2, dlen);
        memset(&m2, 0, sizeof m2);
        rc = load_safetensors(bad, &m2, NULL, err, sizeof err);
        CHECK(rc == 0, "a valid file with another layout is rejected: %s", err);
        if (rc == 0) {
            CHECK(!memcmp(m2.params_memory, m.params_memory, m.num_params * sizeof(float)),
                  "a valid file with another layout loads different parameters");
            model_free(&m2);
        }
        free(h.s); free(d2);
    }

    // Metadata another writer might add: 17 keys of its own before ours, and
    // a value with a surrogate pair (an emoji, as Python's json.dumps writes it).
    {
        Buf k = { 0 };
        buf_printf(&k, "\"__metadata__\":{");
        for (int i = 0; i < 17; i++) buf_printf(&k, "\"key%d\":\"v\",", i);
        buf_printf(&k, "\"emoji\":\"\\ud83d\\ude00\",");
        char *h3 = edit(hdr, NULL, "\"__metadata__\":{", k.s);
        CHECK(h3 != NULL, "test setup: 17 metadata keys");
        if (h3) {
            write_st(bad, h3, data, dlen);
            memset(&m2, 0, sizeof m2);
            rc = load_safetensors(bad, &m2, &md, err, sizeof err);
            CHECK(rc == 0, "17 other metadata keys first: %s", err);
            if (rc == 0) {
                const char *e = meta_get(&md, "emoji");
                CHECK(e && !strcmp(e, "\xf0\x9f\x98\x80"), "\\ud83d\\ude00 is U+1F600 in UTF-8: '%s'", e ? e : "(missing)");
                model_free(&m2);
            }
            free(h3);
        }
        free(k.s);
    }

    // malformed files: each must be rejected with a reason, never a crash
    printf("checkpoint: malformed files\n");
    unsigned char *b = xmalloc(len + 64, "file");
    char *h2;
    unsigned long long ob, oe, pb, pe;
#define WITH_HEADER(what, expr, culprit) do {                                           \
        h2 = (expr);                                                                     \
        CHECK(h2 != NULL, "test setup: cannot build '%s'", what);                       \
        if (h2) { write_st(bad, h2, data, dlen); expect_reject(what, bad, culprit, 0); free(h2); } \
    } while (0)
    write_raw(bad, "", 0);
    expect_reject("an empty file", bad, NULL, 0);
    write_raw(bad, file, 7);
    expect_reject("a 7-byte file", bad, NULL, 0);
    write_raw(bad, file, 8);
    expect_reject("only the 8-byte length", bad, NULL, 0);
    memcpy(b, file, len);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)len >> (8 * i));
    write_raw(bad, b, len);
    expect_reject("header length > file size", bad, NULL, 0);
    for (int i = 0; i < 8; i++) b[i] = i == 7 ? 0x80 : 0;
    write_raw(bad, b, len);
    expect_reject("header length 2^63", bad, NULL, 0);
    for (int i = 0; i < 8; i++) b[i] = 0xff;
    write_raw(bad, b, len);
    expect_reject("header length 2^64-1", bad, NULL, 0);
    write_st(bad, "this is not JSON", data, dlen);
    expect_reject("a header that is not JSON", bad, NULL, 0);
    write_st(bad, "{", data, dlen);
    expect_reject("a header '{'", bad, NULL, 0);
    write_st(bad, "{\"tok_emb\":{\"dtype\":\"F32\",\"shape\":[270,16],\"data_offsets\":[0,", data, dlen);
    expect_reject("a header cut mid-entry", bad, NULL, 0);
    write_raw(bad, file, len - 4);
    expect_reject("data cut short by 4 bytes", bad, NULL, 0);
    memcpy(b, file, len); memset(b + len, 0, 4);
    write_raw(bad, b, len + 4);
    expect_reject("4 stray bytes after the data", bad, NULL, 0);
    WITH_HEADER("a tensor missing", remove_entry(hdr, "blocks.1.mlp.fc.bias"), "blocks.1.mlp.fc.bias");
    WITH_HEADER("trailing garbage after the header", splice(hdr, hdr + hlen, hdr + hlen, "x"), NULL);
    get_offsets(hdr, "ln_f.bias", &ob, &oe);
    {
        char extra[160];
        snprintf(extra, sizeof extra, ",\"extra.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%zu,%zu]}}", dlen, dlen + 4);
        h2 = splice(hdr, hdr + hlen - 1, hdr + hlen, extra);
        memcpy(b, data, dlen); memset(b + dlen, 0, 4);
        write_st(bad, h2, b, dlen + 4);
        expect_reject("an unknown extra tensor", bad, NULL, 0);   // a size check may see it first
        free(h2);
        snprintf(extra, sizeof extra, ",\"extra.weight\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[%zu,%zu]}}", dlen, dlen);
        WITH_HEADER("an unknown extra tensor of size 0", splice(hdr, hdr + hlen - 1, hdr + hlen, extra), "extra.weight");
    }
    {
        char *end, *s = find_entry(hdr, "ln_f.bias", &end), dup[256];
        snprintf(dup, sizeof dup, ",%.*s}", (int)(end - s), s);
        h2 = splice(hdr, hdr + hlen - 1, hdr + hlen, dup);
        write_st(bad, h2, data, dlen);
        expect_reject("a tensor named twice", bad, "ln_f.bias", 0);
        free(h2);
    }
    WITH_HEADER("a wrong shape (transposed)", edit(hdr, "blocks.0.attn.qkv.weight", "[48,16]", "[16,48]"), "blocks.0.attn.qkv.weight");
    WITH_HEADER("a wrong rank", edit(hdr, "blocks.1.attn.proj.weight", "[16,16]", "[16,16,1]"), "blocks.1.attn.proj.weight");
    WITH_HEADER("a vector given as a matrix", edit(hdr, "ln_f.weight", "[16]", "[16,1]"), "ln_f.weight");
    WITH_HEADER("dtype F16", edit(hdr, "blocks.0.ln2.weight", "\"F32\"", "\"F16\""), "blocks.0.ln2.weight");
    WITH_HEADER("dtype missing", edit(hdr, "pos_emb", "\"dtype\":\"F32\",", ""), "pos_emb");
    WITH_HEADER("data_offsets past the end", set_offsets(hdr, "ln_f.bias", ob + dlen, oe + dlen), "ln_f.bias");
    WITH_HEADER("data_offsets reversed", set_offsets(hdr, "ln_f.bias", oe, ob), "ln_f.bias");
    WITH_HEADER("data_offsets of the wrong size", set_offsets(hdr, "ln_f.bias", ob, oe - 4), "ln_f.bias");
    WITH_HEADER("data_offsets beyond 2^64", edit(hdr, "ln_f.bias", "\"data_offsets\":[", "\"data_offsets\":[99999999999999999999"), NULL);
    get_offsets(hdr, "ln_f.weight", &pb, &pe);
    WITH_HEADER("two tensors overlapping", set_offsets(hdr, "ln_f.bias", pb, pe), NULL);
    {
        h2 = set_offsets(hdr, "ln_f.bias", ob + 4, oe + 4);
        memcpy(b, data, dlen); memset(b + dlen, 0, 4);
        CHECK(h2 != NULL, "test setup: hole");
        if (h2) { write_st(bad, h2, b, dlen + 4); expect_reject("a hole in the data", bad, NULL, 0); free(h2); }
    }
    {
        char *end, *s = find_entry(hdr, "blocks.1.attn.qkv.bias", &end);
        unsigned long long qb, qe;
        get_offsets(hdr, "blocks.1.attn.qkv.bias", &qb, &qe);
        const float bad_values[2] = { NAN, INFINITY };
        const char *names[2] = { "a NaN in the data", "an Inf in the data" };
        for (int v = 0; v < 2 && s; v++) {
            memcpy(b, data, dlen);
            memcpy(b + qb + 4 * 5, &bad_values[v], 4);
            write_st(bad, hdr, b, dlen);
            expect_reject(names[v], bad, "blocks.1.attn.qkv.bias", 0);
        }
    }
    WITH_HEADER("metadata missing n_layer", edit(hdr, NULL, "\"n_layer\":\"2\",", ""), "n_layer");
    WITH_HEADER("metadata n_layer 0", edit(hdr, NULL, "\"n_layer\":\"2\"", "\"n_layer\":\"0\""), "n_layer out of range");
    WITH_HEADER("metadata n_ctx 99999999999", edit(hdr, NULL, "\"n_ctx\":\"8\"", "\"n_ctx\":\"99999999999\""), "n_ctx out of range");
    WITH_HEADER("a lone surrogate in metadata", edit(hdr, NULL, "\"format\":\"pt\"", "\"format\":\"\\ud83d\""), "surrogate");
    write_st(bad, "{}", data, dlen);
    expect_reject("a header {}", bad, "no tensors", 0);
    write_st(bad, "{\"__metadata__\":{}}", data, dlen);
    expect_reject("a header with empty metadata and no tensors", bad, "no tensors", 0);
    {
        Buf k = { 0 };
        buf_printf(&k, "\"__metadata__\":{");
        for (int i = 0; i < 70; i++) buf_printf(&k, "\"key%d\":\"v\",", i);
        WITH_HEADER("70 metadata keys", edit(hdr, NULL, "\"__metadata__\":{", k.s), "metadata entries");
        free(k.s);
    }
    WITH_HEADER("no metadata at all", !strncmp(hdr, "{\"__metadata__\":{", 16) && strstr(hdr, "},") ?
                splice(hdr, hdr + 1, strstr(hdr, "},") + 2, "") : NULL, NULL);
    WITH_HEADER("metadata n_head 3 (not dividing 16)", edit(hdr, NULL, "\"n_head\":\"2\"", "\"n_head\":\"3\""), "n_head");
    WITH_HEADER("metadata d_model non-numeric", edit(hdr, NULL, "\"d_model\":\"16\"", "\"d_model\":\"sixteen\""), "d_model");
    WITH_HEADER("metadata d_model '16x'", edit(hdr, NULL, "\"d_model\":\"16\"", "\"d_model\":\"16x\""), "d_model");
    WITH_HEADER("metadata n_layer negative", edit(hdr, NULL, "\"n_layer\":\"2\"", "\"n_layer\":\"-2\""), "n_layer");
    WITH_HEADER("metadata n_ctx a JSON number", edit(hdr, NULL, "\"n_ctx\":\"8\"", "\"n_ctx\":8"), NULL);
    WITH_HEADER("metadata vocab_size below the specials", edit(hdr, NULL, "\"vocab_size\":\"270\"", "\"vocab_size\":\"260\""), "vocab_size");
    WITH_HEADER("metadata for another shape (d_model 32)", edit(hdr, NULL, "\"d_model\":\"16\"", "\"d_model\":\"32\""), NULL);
    // A tiny file whose metadata describes the largest model config_check
    // allows (d_model 4096, 64 layers: 12.9e9 parameters, 52 GB per copy).
    // The loader must see that the file cannot hold it before allocating.
    WITH_HEADER("metadata of a 52 GB model", edit(hdr, NULL, "\"d_model\":\"16\",\"n_layer\":\"2\",\"n_head\":\"2\"",
                "\"d_model\":\"4096\",\"n_layer\":\"64\",\"n_head\":\"2\""), NULL);
    h2 = edit(hdr, NULL, "\"d_model\":\"16\",\"n_layer\":\"2\",\"n_head\":\"2\"",
              "\"d_model\":\"4096\",\"n_layer\":\"64\",\"n_head\":\"2\"");
    if (h2) { write_st(bad, h2, data, dlen); expect_reject("... same, with a 4 GB memory limit", bad, NULL, 1); free(h2); }
    {
        char longv[400];
        memset(longv, 'a', 300); longv[300] = '\0';
        char rep[420];
        snprintf(rep, sizeof rep, "\"format\":\"%s\"", longv);
        WITH_HEADER("a 300-byte metadata value", edit(hdr, NULL, "\"format\":\"pt\"", rep), NULL);
    }
    WITH_HEADER("a 70-byte tensor name", edit(hdr, NULL, "\"ln_f.bias\"",
                "\"ln_f.bias.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""), NULL);
    remove(bad);
    CHECK(mkdir(bad, 0700) == 0, "test setup: mkdir %s: %s", bad, strerror(errno));
    expect_reject("a directory", bad, "directory", 0);
    rmdir(bad);
    remove(bad);
    expect_reject("a missing file", bad, NULL, 0);
#undef WITH_HEADER

    // Random damage: flip bytes anywhere in a valid file, many times. Every
    // load must either succeed or fail with a message; never crash.
    {
        int wrong = 0, loaded = 0;
        const int trials = UNDER_ASAN ? 150 : 400;
        for (int t = 0; t < trials; t++) {
            memcpy(b, file, len);
            int flips = 1 + rng_int(rng, 4);
            for (int f = 0; f < flips; f++) {
                // mostly the header, sometimes the length and the data
                size_t at = rng_int(rng, 4) ? 8 + (size_t)rng_int(rng, (int)hlen) : (size_t)rng_int(rng, (int)len);
                b[at] = (unsigned char)rng_int(rng, 256);
            }
            write_raw(bad, b, len);
            memset(&m2, 0, sizeof m2);
            err[0] = '\0';
            rc = load_safetensors(bad, &m2, NULL, err, sizeof err);
            if (rc == 0) { loaded++; model_free(&m2); }
            else if (rc != -1 || !err[0] || m2.params_memory) wrong++;
        }
        CHECK(wrong == 0, "%d of %d damaged files gave a wrong result", wrong, trials);
        printf("checkpoint: %d randomly damaged files, %d still loaded (damage in padding or data), none crashed\n",
               trials, loaded);
    }
    remove(bad);
    remove(path);
    free(b); free(hdr); free(file);
    model_free(&m);
}

// ----------------------------------------------------------------------------
// 5. threads do not change results

#ifndef R1_NO_THREADS
// One batch shape's results: gradients, probabilities, logp and the logits of
// decoding its first four sequences with the KV cache.
typedef struct { float *g, *probs, *logp, *kv; } Results;
static Results run_batch(Model *m, KVCache *kv, const int *inputs, const int *targets, const float *weights, int B, int T) {
    const int V = m->config.vocab_size, N = B * T;
    const int slots[4] = { 0, 1, 2, 3 };
    Results r;
    model_forward(m, inputs, targets, B, T, 1.0f, 0);
    model_zero_grad(m);
    model_backward(m, weights);
    r.g = copy_of(m->grads_memory, m->num_params);
    r.probs = zeros((size_t)N * V);                      // the rows that have a target
    memcpy(r.probs, m->acts.logits, (size_t)m->n_lm * V * sizeof(float));
    r.logp = copy_of(m->logp, N);
    r.kv = zeros((size_t)T * 4 * V);
    model_transpose_weights(m);
    for (int pos = 0; pos < T; pos++) {
        int tok[4];
        for (int i = 0; i < 4; i++) tok[i] = inputs[i * T + pos];
        decode_step(m, kv, 4, slots, tok, pos, 4);
        memcpy(r.kv + (size_t)pos * 4 * V, kv->logits, (size_t)4 * V * sizeof(float));
    }
    return r;
}
static void results_free(Results *r) { free(r->g); free(r->probs); free(r->logp); free(r->kv); }

static void test_threads(Rng *rng) {
    Config c = { 270, 8, 16, 2, 2 };
    const int V = c.vocab_size;
    // 64 rows: every parallel_for splits; 63 rows: the split is not a multiple of 8
    const int shapes[2][2] = { { 8, 8 }, { 9, 7 } };
    Model m;
    model_alloc(&m, &c);
    init_wide(&m, rng);
    KVCache kv;
    kv_alloc(&kv, &c, 4);
    int inputs[2][64], targets[2][64];
    float weights[2][64];
    Results one[2], two[2];
    CHECK(pool.n_threads == 1, "threads were started before the single-threaded run");
    for (int s = 0; s < 2; s++) {
        random_batch(rng, V, shapes[s][0] * shapes[s][1], inputs[s], targets[s], weights[s]);
        one[s] = run_batch(&m, &kv, inputs[s], targets[s], weights[s], shapes[s][0], shapes[s][1]);
    }
    threads_init(2);
    CHECK(pool.n_threads == 2, "threads_init(2) started %d threads", pool.n_threads);
    for (int s = 0; s < 2; s++) {
        const int B = shapes[s][0], T = shapes[s][1], N = B * T;
        two[s] = run_batch(&m, &kv, inputs[s], targets[s], weights[s], B, T);
        size_t diff = 0;
        double worst = 0.0;
        for (size_t i = 0; i < m.num_params; i++)
            if (one[s].g[i] != two[s].g[i]) { diff++; worst = fmax(worst, fabs(one[s].g[i] - two[s].g[i])); }
        CHECK(diff == 0, "B=%d T=%d: with 2 threads %zu of %zu gradients differ (largest by %.3e)", B, T, diff, m.num_params, worst);
        CHECK(!memcmp(one[s].probs, two[s].probs, (size_t)N * V * sizeof(float)), "B=%d T=%d: with 2 threads the probabilities differ", B, T);
        CHECK(!memcmp(one[s].logp, two[s].logp, (size_t)N * sizeof(float)), "B=%d T=%d: with 2 threads logp differs", B, T);
        CHECK(!memcmp(one[s].kv, two[s].kv, (size_t)T * 4 * V * sizeof(float)), "B=%d T=%d: with 2 threads decode_step gives different logits", B, T);
        results_free(&one[s]); results_free(&two[s]);
    }
    printf("threads: 1 and 2 threads give bit-identical gradients, probabilities and decoding (64 and 63 rows)\n");
    kv_free(&kv);
    model_free(&m);
}
#endif

// ----------------------------------------------------------------------------
// 6. optimizer pieces, sampling, random numbers

// Entries of dir whose name starts with prefix, other than except (or NULL).
static int count_prefixed(const char *dir, const char *prefix, const char *except) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += !strncmp(e->d_name, prefix, strlen(prefix)) && !(except && !strcmp(e->d_name, except));
    if (d) closedir(d);
    return n;
}

// write_file_atomic writes to a temporary of its own (not PATH.tmp, which
// another process writing PATH may be filling), and removes it whatever fails.
static void test_write_file_atomic(void) {
    char dir[64], path[128], other[160], err[512] = "";
    snprintf(dir, sizeof dir, "/tmp/r1_test_atomic_%d", (int)getpid());
    snprintf(path, sizeof path, "%s/file", dir);
    snprintf(other, sizeof other, "%s.tmp", path);
    mkdir(dir, 0755);
    FILE *f = fopen(other, "wb");                       // another writer's temporary, half written
    if (f) { fputs("theirs", f); fclose(f); }
    Chunk c = { "mine", 4 };
    CHECK(write_file_atomic(path, &c, 1, err, sizeof err) == 0, "write_file_atomic: %s", err);
    size_t len = 0;
    char *got = read_file(path, 100, &len, err, sizeof err), *theirs = read_file(other, 100, &len, err, sizeof err);
    CHECK(got && !strncmp(got, "mine", 4), "write_file_atomic did not write %s", path);
    CHECK(theirs && len == 6 && !memcmp(theirs, "theirs", 6), "write_file_atomic took over another writer's %s", other);
    free(got); free(theirs);
    CHECK(count_prefixed(dir, "file.", "file.tmp") == 0, "write_file_atomic left a temporary in %s", dir);
    // a failed write (a file-size limit, in a child) and a failed rename (PATH
    // is a folder) leave no temporary behind
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = { 100, 100 };
        setrlimit(RLIMIT_FSIZE, &lim);
        static char big[4096];
        Chunk b = { big, sizeof big };
        _exit(write_file_atomic(path, &b, 1, err, sizeof err) == -1 && strstr(err, "disk full") ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "write_file_atomic past a file-size limit did not fail as a full disk");
    char sub[160];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    mkdir(sub, 0755);
    CHECK(write_file_atomic(sub, &c, 1, err, sizeof err) == -1, "write_file_atomic over a folder succeeded");
    CHECK(count_prefixed(dir, "file.", "file.tmp") == 0 && count_prefixed(dir, "sub.", NULL) == 0,
          "a failed write_file_atomic left a temporary in %s", dir);
    remove(sub); remove(other); remove(path); remove(dir);
    printf("write_file_atomic: its own temporary, removed on failure\n");
}

static void test_clip_and_schedule(void) {
    Config c = { 261, 4, 4, 1, 1 };
    Model m;
    model_alloc(&m, &c);
    size_t n = m.num_params;
    m.grads_memory[0] = 3.0f; m.grads_memory[n - 1] = -4.0f; m.grads_memory[n / 2] = 12.0f;   // norm 13
    float norm = clip_grad_norm(&m, 1.0f);
    CHECK(fabsf(norm - 13.0f) < 1e-5f, "clip_grad_norm returned %.7g, want the norm before clipping, 13", norm);
    double after = 0.0;
    for (size_t i = 0; i < n; i++) after += (double)m.grads_memory[i] * m.grads_memory[i];
    CHECK(fabs(sqrt(after) - 1.0) < 1e-5, "after clipping to 1 the norm is %.7g", sqrt(after));
    CHECK(fabsf(m.grads_memory[0] * 13.0f - 3.0f) < 1e-5f && fabsf(m.grads_memory[n / 2] * 13.0f - 12.0f) < 1e-5f,
          "clipping changed the direction: %.7g %.7g", m.grads_memory[0], m.grads_memory[n / 2]);
    float *g = copy_of(m.grads_memory, n);
    norm = clip_grad_norm(&m, 5.0f);
    CHECK(fabsf(norm - 1.0f) < 1e-5f && !memcmp(g, m.grads_memory, n * sizeof(float)),
          "a norm (%.7g) below max_norm must leave the gradient untouched", norm);
    m.grads_memory[0] = 100.0f;
    memcpy(g, m.grads_memory, n * sizeof(float));
    clip_grad_norm(&m, 0.0f);
    CHECK(!memcmp(g, m.grads_memory, n * sizeof(float)), "max_norm 0 must mean no clipping");
    free(g);
    model_free(&m);

    // linear warm-up over steps 0..warmup-1, then a cosine from lr to min_frac * lr
    const float lr = 3e-3f, mf = 0.1f;
    const long W = 10, TOT = 110;
    struct { long step; float want; } pts[] = {
        { 0, lr / W }, { 4, lr * 5 / W }, { W - 1, lr }, { W, lr }, { W + (TOT - W) / 2, lr * (mf + (1 - mf) * 0.5f) },
        { TOT, lr * mf }, { TOT + 50, lr * mf } };
    for (size_t i = 0; i < sizeof pts / sizeof pts[0]; i++) {
        float got = lr_schedule(lr, pts[i].step, W, TOT, mf);
        CHECK(fabsf(got - pts[i].want) <= 1e-6f * lr + 1e-4f * pts[i].want, "lr_schedule at step %ld: %.7g, want %.7g",
              pts[i].step, got, pts[i].want);
    }
    int mono = 1;
    for (long s = 1; s <= TOT + 5; s++) {
        float a = lr_schedule(lr, s - 1, W, TOT, mf), b = lr_schedule(lr, s, W, TOT, mf);
        if (s < W ? b <= a : b > a) mono = 0;
    }
    CHECK(mono, "lr_schedule must rise during warm-up and never rise after it");
    CHECK(lr_schedule(lr, 5, 0, 100, mf) <= lr && lr_schedule(lr, 0, 0, 100, mf) == lr, "lr_schedule with no warm-up starts at lr");
    CHECK(lr_schedule(lr, 50, 10, 10, mf) == lr, "lr_schedule with total <= warmup stays at lr after warm-up");
}

static void test_adamw(void) {
    Config c = { 261, 4, 8, 2, 2 };
    Model m;
    model_alloc(&m, &c);
    size_t sz[N_PARAM_TENSORS];
    param_sizes(&c, sz);
    // zero gradient, parameters 1: only weight decay moves them, and only the
    // embeddings and matrices are decayed
    for (size_t i = 0; i < m.num_params; i++) m.params_memory[i] = 1.0f;
    model_zero_grad(&m);
    const float lr = 0.01f, wd = 0.1f;
    adamw_update(&m, lr, 0.9f, 0.95f, 1e-8f, wd);
    float *t[N_PARAM_TENSORS];
    param_list(&m.params, t);
    const int decayed[N_PARAM_TENSORS] = { 1, 1, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0 };
    for (int k = 0; k < N_PARAM_TENSORS; k++) {
        int ok = 1;
        float want = decayed[k] ? 1.0f - lr * wd : 1.0f;
        for (size_t i = 0; i < sz[k]; i++) ok &= fabsf(t[k][i] - want) < 1e-7f;
        CHECK(ok, "AdamW weight decay on %s: %.9g, want %.9g", PARAM_NAMES[k], t[k][0], want);
    }
    // first steps with a constant gradient move each parameter by about lr
    // against the gradient's sign (bias correction makes mhat/sqrt(vhat) = sign)
    model_free(&m);
    model_alloc(&m, &c);
    for (size_t i = 0; i < m.num_params; i++) m.grads_memory[i] = (i % 3 == 0 ? -1.0f : 1.0f) * (0.01f + (float)(i % 7));
    double worst = 0.0;
    for (int step = 1; step <= 3; step++) {
        float *before = copy_of(m.params_memory, m.num_params);
        adamw_update(&m, lr, 0.9f, 0.95f, 1e-8f, 0.0f);
        for (size_t i = 0; i < m.num_params; i++) {
            float sign = m.grads_memory[i] > 0 ? 1.0f : -1.0f;
            worst = fmax(worst, fabs((before[i] - m.params_memory[i]) - lr * sign));
        }
        free(before);
    }
    CHECK(worst < 1e-6, "AdamW with a constant gradient should step by lr*sign(g); off by %.3e", worst);
    CHECK(m.step == 3, "AdamW step counter %ld after 3 updates", m.step);
    model_free(&m);
}

static void test_sampling(Rng *rng) {
    enum { V = 270 };
    float logits[V];
    ProbId scratch[2 * V];
    for (int i = 0; i < V; i++) logits[i] = 2.0f * rng_normal(rng);
    int best = 0;
    for (int i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    Rng r = rng_seed(3);
    CHECK(sample_token(logits, V, 0.0f, 1.0f, &r, scratch) == best, "temperature 0 is not argmax");
    int all_best = 1;
    for (int k = 0; k < 200; k++) all_best &= sample_token(logits, V, 1.0f, 1e-6f, &r, scratch) == best;
    CHECK(all_best, "top_p 1e-6 must keep only the most likely token");
    // temperature 1, no nucleus: frequencies follow softmax(logits)
    double p[V], s = 0.0;
    for (int i = 0; i < V; i++) s += p[i] = exp(logits[i] - logits[best]);
    for (int i = 0; i < V; i++) p[i] /= s;
    enum { S = 40000 };
    static int count[V];
    memset(count, 0, sizeof count);
    for (int k = 0; k < S; k++) {
        int id = sample_token(logits, V, 1.0f, 1.0f, &r, scratch);
        if (id >= 0 && id < V) count[id]++;
    }
    double worst_z = 0.0;
    for (int i = 0; i < V; i++) {
        double sd = sqrt(S * p[i] * (1 - p[i])) + 1.0;
        worst_z = fmax(worst_z, fabs(count[i] - S * p[i]) / sd);
    }
    CHECK(worst_z < 5.0, "sampled frequencies stray %.1f standard deviations from softmax", worst_z);
    // top_p 0.5: only the smallest set of tokens holding half the mass appear
    int order[V];
    for (int i = 0; i < V; i++) order[i] = i;
    for (int i = 0; i < V; i++)
        for (int j = i + 1; j < V; j++) if (p[order[j]] > p[order[i]]) { int x = order[i]; order[i] = order[j]; order[j] = x; }
    int in_nucleus[V] = { 0 };
    double cum = 0.0;
    for (int i = 0; i < V && cum < 0.5; i++) { cum += p[order[i]]; in_nucleus[order[i]] = 1; }
    int outside = 0;
    for (int k = 0; k < 5000; k++) outside += !in_nucleus[sample_token(logits, V, 1.0f, 0.5f, &r, scratch)];
    CHECK(outside == 0, "top_p 0.5 sampled %d tokens outside the nucleus", outside);
    printf("sample_token: frequencies within %.1f sd of softmax; nucleus respected\n", worst_z);
}

// Broken logits (NaN, from a diverged checkpoint; +inf, from a finite one
// whose logits overflow; a row of -inf) must still give a token, and the
// same one every time: NaN counts as -inf, +inf tokens share the mass, and a
// row where no token has any mass gives its argmax, token 0.
static void test_sampling_broken_logits(void) {
    enum { V = 8 };
    const float nan = NAN, inf = INFINITY;
    const struct { const char *what; float l[V]; int only, second; } rows[] = {
        { "all NaN",                { nan, nan, nan, nan, nan, nan, nan, nan }, 0, -1 },
        { "all -inf",               { -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf }, 0, -1 },
        { "NaN and -inf",           { nan, -inf, nan, -inf, nan, -inf, nan, -inf }, 0, -1 },
        { "NaN but one finite",     { nan, nan, nan, nan, nan, 1.0f, nan, nan }, 5, -1 },
        { "NaN first, one finite",  { nan, -inf, 3.0f, nan, nan, nan, nan, nan }, 2, -1 },
        { "one +inf",               { 1.0f, 2.0f, 3.0f, inf, 0.0f, -1.0f, 2.0f, 1.0f }, 3, -1 },
        { "one +inf among NaN",     { nan, nan, nan, nan, nan, nan, inf, nan }, 6, -1 },
        { "two +inf",               { 1.0f, inf, 3.0f, nan, -inf, inf, 2.0f, 1.0f }, 1, 5 },
    };
    const float tops[] = { 1.0f, 0.9f, 1e-6f }, temps[] = { 0.0f, 0.6f, 1.0f };
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        int bad = -1, seen_second = 0;
        for (int t = 0; t < 3; t++)
            for (int q = 0; q < 3; q++) {
                Rng r = rng_seed(9);
                ProbId scratch[2 * V];
                for (int d = 0; d < 50; d++) {
                    int id = sample_token(rows[k].l, V, temps[t], tops[q], &r, scratch);
                    seen_second |= id == rows[k].second;
                    if (id != rows[k].only && id != rows[k].second) bad = id;
                }
            }
        CHECK(bad < 0, "sample_token on %s drew token %d", rows[k].what, bad);
        if (rows[k].second >= 0) CHECK(seen_second, "sample_token on %s never drew its second +inf token", rows[k].what);
    }
    // all equal: every token, drawn uniformly
    float flat[V];
    ProbId scratch[2 * V];
    int count[V] = { 0 };
    for (int i = 0; i < V; i++) flat[i] = 1e30f;
    Rng r = rng_seed(10);
    for (int d = 0; d < 8000; d++) {
        int id = sample_token(flat, V, 1.0f, 1.0f, &r, scratch);
        if (id >= 0 && id < V) count[id]++;
    }
    int lo = count[0], hi = count[0];
    for (int i = 1; i < V; i++) { lo = count[i] < lo ? count[i] : lo; hi = count[i] > hi ? count[i] : hi; }
    CHECK(lo > 850 && hi < 1150, "sample_token on equal logits: counts from %d to %d, want about 1000 each", lo, hi);
    printf("sample_token: NaN, +inf, -inf and equal logits give defined tokens\n");
}

// The nucleus by the book: sort every token, keep the smallest prefix whose
// mass reaches top_p, draw within it. sample_token orders only the tokens that
// can be in the nucleus; it must draw exactly the same tokens.
static int sample_full_sort(const float *logits, int V, float temperature, float top_p, Rng *rng, ProbId *scratch) {
    int best = 0;
    for (int i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    double sum = 0.0;
    for (int i = 0; i < V; i++) {
        scratch[i].p = r1_expf((logits[i] - logits[best]) / temperature);
        scratch[i].id = i;
        sum += scratch[i].p;
    }
    qsort(scratch, (size_t)V, sizeof *scratch, cmp_prob_desc);
    double cum = 0.0;
    int n;
    for (n = 0; n < V; n++) {
        cum += scratch[n].p;
        if (cum >= top_p * sum) { n++; break; }
    }
    if (n > V) n = V;
    double r = rng_uniform(rng) * cum, c = 0.0;
    for (int i = 0; i < n; i++) {
        c += scratch[i].p;
        if (r < c) return scratch[i].id;
    }
    return scratch[n - 1].id;
}
static void test_nucleus_matches_full_sort(Rng *rng) {
    enum { V = 453 };
    float logits[V];
    ProbId s1[2 * V], s2[V];
    // Flat rows (an unsure model: a long nucleus, sorted) to peaked ones (a
    // short one, from a heap); the last two rows' logits take a few values
    // only, so equal weights abound and must stay in id order.
    const float spreads[] = { 0.01f, 0.1f, 1.0f, 3.0f, 10.0f, 0.1f, 5.0f }, tops[] = { 0.5f, 0.9f, 0.95f, 0.999f }, temps[] = { 0.6f, 1.0f };
    int draws = 0, differ = 0;
    for (int a = 0; a < 7; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 2; c++) {
                for (int i = 0; i < V; i++) logits[i] = spreads[a] * (a < 5 ? rng_normal(rng) : (float)(int)(3.0 * rng_normal(rng)));
                Rng r1 = rng_seed(100 + a), r2 = rng_seed(100 + a);
                for (int k = 0; k < 300; k++, draws++)
                    differ += sample_token(logits, V, temps[c], tops[b], &r1, s1) !=
                              sample_full_sort(logits, V, temps[c], tops[b], &r2, s2);
            }
    CHECK(differ == 0, "sample_token and the full-sort nucleus drew different tokens %d times of %d", differ, draws);
    printf("sample_token: the same %d draws as sorting the whole vocabulary (%d differ)\n", draws, differ);
}

static void test_rng(void) {
    Rng a = rng_seed(42), b = rng_seed(42), c = rng_seed(43);
    int same = 1, differ = 0;
    for (int i = 0; i < 100; i++) { uint64_t x = rng_u64(&a); same &= x == rng_u64(&b); differ += x != rng_u64(&c); }
    CHECK(same && differ > 95, "rng_seed: same seed same stream (%d), different seed different stream (%d of 100)", same, differ);
    double s = 0.0, s2 = 0.0;
    int in_range = 1;
    enum { K = 200000 };
    for (int i = 0; i < K; i++) {
        float u = rng_uniform(&a);
        in_range &= u >= 0.0f && u < 1.0f;
        double z = rng_normal(&a);
        s += z; s2 += z * z;
    }
    CHECK(in_range, "rng_uniform left [0,1)");
    double mean = s / K, var = s2 / K - mean * mean;
    CHECK(fabs(mean) < 0.02 && fabs(var - 1.0) < 0.02, "rng_normal: mean %.4f, variance %.4f", mean, var);
}

// ----------------------------------------------------------------------------
// 7. the arithmetic that gives the same bits on every machine

// sum_fixed and dot_fixed add in the order their comment gives, whatever the
// compiler made of their loops (one 8-wide vector, two 4-wide, or none): the
// same order written out one number at a time, for every length up to 100,
// must give the same bits.
static float sum_by_hand(const float *a, const float *b, int n) {   // b NULL: the plain sum
    float acc[SUM_LANES];
    for (int l = 0; l < SUM_LANES; l++) {
        acc[l] = 0.0f;
        for (int i = l; i < n; i += SUM_LANES) acc[l] = b ? fmaf(a[i], b[i], acc[l]) : acc[l] + a[i];
    }
    for (int w = SUM_LANES / 2; w > 0; w /= 2)
        for (int l = 0; l < w; l++) acc[l] += acc[l + w];
    return acc[0];
}
static void test_fixed_sums(Rng *rng) {
    enum { N = 100 };
    float *a = randn(N, 0.0f, 1.0f, rng), *b = randn(N, 0.5f, 2.0f, rng);
    int bad_sum = -1, bad_dot = -1, differs_from_serial = 0;
    for (int n = 0; n <= N; n++) {
        if (sum_fixed(a, n) != sum_by_hand(a, NULL, n) && bad_sum < 0) bad_sum = n;
        if (dot_fixed(a, b, n) != sum_by_hand(a, b, n) && bad_dot < 0) bad_dot = n;
        float serial = 0.0f;
        for (int i = 0; i < n; i++) serial = fmaf(a[i], b[i], serial);
        differs_from_serial += serial != dot_fixed(a, b, n);
        CHECK(fabs(dot_fixed(a, b, n) - dot(a, b, (size_t)n)) < 1e-5 * (1 + n), "dot_fixed of %d terms: %.9g, want %.9g",
              n, dot_fixed(a, b, n), dot(a, b, (size_t)n));
    }
    CHECK(bad_sum < 0, "sum_fixed of %d numbers is not the order its comment gives", bad_sum);
    CHECK(bad_dot < 0, "dot_fixed of %d terms is not the order its comment gives", bad_dot);
    CHECK(differs_from_serial > 10, "the %d-lane order differs from the serial one in only %d of %d lengths",
          SUM_LANES, differs_from_serial, N + 1);
    free(a); free(b);
}

// ulps apart: how many floats lie between a and b, plus one (0 if equal)
static int64_t float_order(float f) {
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return i < 0 ? (int64_t)INT32_MIN - i : i;                 // -0 and +0 are both 0
}
static int64_t ulps_apart(float a, float b) {
    int64_t d = float_order(a) - float_order(b);
    return d < 0 ? -d : d;
}

// Every 211th float of magnitude up to hi, both signs: the largest distance
// from libm's function, in ulps, with NaN where libm gives NaN.
typedef float (*FloatFn)(float);
static void sweep_against_libm(const char *name, FloatFn ours, FloatFn libm, float hi) {
    uint32_t top;
    memcpy(&top, &hi, sizeof top);
    int64_t worst = 0; float worst_x = 0.0f; long points = 0, nan_mismatch = 0;
    for (uint32_t bits = 0; bits <= top; bits += 211)
        for (int neg = 0; neg < 2; neg++) {
            uint32_t xb = bits | (neg ? 0x80000000u : 0u);
            float x;
            memcpy(&x, &xb, sizeof x);
            float got = ours(x), want = libm(x);
            points++;
            if (isnan(got) || isnan(want)) { nan_mismatch += isnan(got) != isnan(want); continue; }
            int64_t u = ulps_apart(got, want);
            if (u > worst) { worst = u; worst_x = x; }
        }
    CHECK(worst <= 2 && nan_mismatch == 0, "%s: %lld ulp from libm at x = %.9g (%ld NaN mismatches)", name,
          (long long)worst, worst_x, nan_mismatch);
    printf("%-9s within %lld ulp of libm at %ld points, |x| <= %g\n", name, (long long)worst, points, hi);
}
static float our_expf(float x) { return r1_expf(x); }
static float our_expm1f(float x) { return r1_expm1f(x); }
static float our_logf(float x) { return r1_logf(x); }
static float our_cosf(float x) { return r1_cosf(x); }

static void test_own_libm(void) {
    sweep_against_libm("r1_expf", our_expf, expf, 110.0f);          // into 0 and inf on either side
    sweep_against_libm("r1_expm1f", our_expm1f, expm1f, 110.0f);
    sweep_against_libm("r1_logf", our_logf, logf, INFINITY);       // subnormals, negatives (NaN), inf
    sweep_against_libm("r1_cosf", our_cosf, cosf, 1048576.0f);     // 2^20, its documented range
    const float inf = INFINITY;
    CHECK(r1_expf(0.0f) == 1.0f && r1_expf(-inf) == 0.0f && r1_expf(inf) == inf && isnan(r1_expf(NAN)) &&
          r1_expf(-104.0f) == 0.0f && r1_expf(89.0f) == inf && r1_expf(1.0f) == 2.71828183f,
          "r1_expf at 0, -inf, inf, NaN, -104, 89, 1");
    CHECK(r1_expm1f(0.0f) == 0.0f && r1_expm1f(-inf) == -1.0f && r1_expm1f(inf) == inf && isnan(r1_expm1f(NAN)) &&
          r1_expm1f(1e-10f) == 1e-10f, "r1_expm1f at 0, -inf, inf, NaN, 1e-10");
    CHECK(r1_logf(1.0f) == 0.0f && r1_logf(0.0f) == -inf && r1_logf(inf) == inf && isnan(r1_logf(-1.0f)) &&
          isnan(r1_logf(NAN)) && r1_logf(2.0f) == 0.693147182f, "r1_logf at 1, 0, inf, -1, NaN, 2");
    CHECK(r1_cosf(0.0f) == 1.0f && isnan(r1_cosf(inf)) && isnan(r1_cosf(NAN)) && isnan(r1_cosf(2e6f)),
          "r1_cosf at 0, inf, NaN, beyond 2^20");
    // x^n against powf, for AdamW's betas and the steps of a long run
    const float bases[] = { 0.9f, 0.95f, 0.99f, 0.999f, 0.5f, 1.0001f, 1.5f, 0.0f, 1.0f };
    int64_t worst = 0; float worst_b = 0; long worst_n = 0;
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++)
        for (long n = 0; n <= 20000; n++) {
            int64_t u = ulps_apart(r1_powi(bases[i], n), powf(bases[i], (float)n));
            if (u > worst) { worst = u; worst_b = bases[i]; worst_n = n; }
        }
    CHECK(worst <= 2, "r1_powi: %lld ulp from powf at %g^%ld", (long long)worst, worst_b, worst_n);
    printf("r1_powi   within %lld ulp of powf for 9 bases, n = 0..20000\n", (long long)worst);
}

int main(void) {
    double t0 = now_seconds();
    Rng rng = rng_seed(20250101);
    // 1. each op alone
    test_encoder_grad(&rng);
    test_layernorm_grad(&rng, 5, 8);
    test_layernorm_grad(&rng, 3, 7);
    test_matmul_grad(&rng, 7, 5, 19);
    test_matmul_grad(&rng, 8, 16, 32);
    test_matmul_grad(&rng, 10, 20, 18);
    test_matmul_forward(&rng);
    test_matmul_kernels_agree(&rng);
    test_attention_grad(&rng);
    test_attend_fast(&rng);
    test_gelu_grad(&rng);
    test_residual_grad(&rng);
    test_softmax_grad(&rng, 1.0f);
    Rng rng_t = rng_seed(77);                          // its own coins: the tests after it see the same draws
    test_softmax_grad(&rng_t, 0.7f);
    // 2. the whole model
    test_model_grad(&rng);
    test_batch_and_causality(&rng);
    // 2b. the reward model, with coins of its own (the tests after it see the same draws)
    Rng rng_rm = rng_seed(45);
    test_reward_model_grad(&rng_rm);
    test_bradley_terry();
    test_reward_model_learns(&rng_rm);
    test_reward_model_pairwise_step(&rng_rm);
    // 3. sampling
    test_kv_cache(&rng);
    test_generate(&rng);
    test_sampling(&rng);
    test_sampling_broken_logits();
    test_nucleus_matches_full_sort(&rng);
    // 4. checkpoints
    test_checkpoints(&rng);
    test_write_file_atomic();
    // 6. optimizer and random numbers
    test_clip_and_schedule();
    test_adamw();
    test_rng();
    // 7. arithmetic
    test_fixed_sums(&rng);
    test_own_libm();
    // 5. threads last: threads_init starts the pool once per process
#ifndef R1_NO_THREADS
    test_threads(&rng);
#else
    printf("threads: skipped (built with -DR1_NO_THREADS)\n");
#endif
    printf("model: %.2f s\n", now_seconds() - t0);
    return tests_done("model");
}
