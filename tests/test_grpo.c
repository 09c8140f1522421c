// tests/test_grpo.c -- what GRPO puts into the parameters (DESIGN §10: "the
// update is guarded, not only its formula").
//
//   make tests/test_grpo && ./tests/test_grpo
//
// What is checked:
//   1. the whole surrogate through the model: on fixed rollouts (outputs of
//      different lengths, fixed rewards, an old policy that is not the policy,
//      a frozen reference that is not either, beta > 0), the gradient that
//      grpo_gradient leaves in the parameters equals minus the central
//      difference of J computed here, in double, from the model's
//      log-probabilities; for --loss grpo, dr_grpo and dapo, for rho = 1
//      exactly (the mu = 1 path, where the forward itself is pi_old), and
//      for the second of two mini-batches, after the first one's step
//   2. group_advantages against advantages worked out by hand
//   3. each loss's normaliser: the coefficient a token of a 3-token and of a
//      7-token output receives
//   4. behaviour: a few real grpo_step calls with a reward that prefers one
//      answer make it more likely, and with the reward flipped, less likely;
//      --minibatches 4 takes 4 optimizer steps, and the later ones clip
//   5. the rows an update sees: DAPO's dynamic sampling drops exactly the
//      flat groups, and every row keeps its own advantage through it and
//      through the length sort of each mini-batch
//   6. what reaches the optimizer: the clipped gradient (the log gets the
//      norm before the clip), and --ref-reset replacing the reference
#define R1_TESTING
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../r1.c"
#pragma GCC diagnostic pop
#include "check.h"

// ----------------------------------------------------------------------------
// helpers

// A random model far from model_init's near-uniform one: weights with a gain
// of 1.5 over 1/sqrt(fan_in), LayerNorm weights around 1 but not 1, biases
// that are not zero (as test_model.c's init_wide), so that log-probabilities
// differ from token to token and every tensor's gradient is far from zero.
static void init_random(Model *m, Rng *rng) {
    const Config *c = &m->config;
    const float D = (float)c->d_model, g = 1.5f;
    size_t sz[N_PARAM_TENSORS];
    param_sizes(c, sz);
    const float mean[N_PARAM_TENSORS] = { 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0 };
    const float sd[N_PARAM_TENSORS] = { 0.5f, 0.5f, 0.3f, 0.3f, g / sqrtf(D), 0.3f, g / sqrtf(D), 0.2f,
        0.3f, 0.3f, g / sqrtf(D), 0.3f, g / sqrtf(4 * D), 0.2f, 0.3f, 0.3f };
    float *x = m->params_memory;
    for (int k = 0; k < N_PARAM_TENSORS; k++)
        for (size_t i = 0; i < sz[k]; i++) *x++ = mean[k] + sd[k] * rng_normal(rng);
}

static const char *const PARAM_NAMES[N_PARAM_TENSORS] = {
    "tok_emb", "pos_emb", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
    "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb" };

// ----------------------------------------------------------------------------
// 1. the whole GRPO surrogate through the model, by finite differences

// The fixed rollouts: Q = 2 questions, G = 3 outputs each, of completion
// lengths 3, 7, 5 and 2, 6, 4 after prompts of 3 or 4 tokens; tokens drawn
// at random; fixed rewards.
enum { FD_Q = 2, FD_G = 3, FD_N = FD_Q * FD_G, FD_CTX = 16 };
static const int FD_PLEN[FD_N] = { 3, 4, 3, 4, 3, 4 }, FD_OLEN[FD_N] = { 3, 7, 5, 2, 6, 4 };
static const float FD_REWARD[FD_N] = { 1.0f, 0.0f, 0.5f, 0.0f, 1.0f, 1.0f };

static void fixed_rollouts(Seqs *k, int V, Rng *rng) {
    seqs_alloc(k, FD_N, FD_CTX);
    for (int i = 0; i < FD_N; i++) {
        k->plen[i] = FD_PLEN[i];
        k->len[i] = FD_PLEN[i] + FD_OLEN[i];
        for (int t = 0; t < k->len[i]; t++) k->tok[i * FD_CTX + t] = rng_int(rng, V);
    }
}

// Everything J depends on besides theta, for the rows of k (one optimizer
// step's batch), laid out as one micro-batch of all its rows (o->micro >=
// k->n): entry (i, t) at i * Tb + t, where targets[...] >= 0.
typedef struct {
    Model *policy;
    const GrpoOpts *o;
    const Seqs *k;
    int Tb;
    const int *targets;
    const double *adv;                 // worked out here, in double
    const float *logp_old, *logp_ref;
    float *logp;                       // scratch
} Surrogate;

// The advantage of each output, by eq. 3, in double: (r - mean) / (std + 1e-4)
// with the unbiased std (grpo, dapo), or r - mean (dr_grpo).
static void advantages_by_hand(int loss, double *adv) {
    for (int q = 0; q < FD_Q; q++) {
        const float *r = FD_REWARD + q * FD_G;
        double mean = 0, ss = 0;
        for (int g = 0; g < FD_G; g++) mean += r[g] / (double)FD_G;
        for (int g = 0; g < FD_G; g++) ss += (r[g] - mean) * (r[g] - mean);
        double sd = sqrt(ss / (FD_G - 1));
        for (int g = 0; g < FD_G; g++)
            adv[q * FD_G + g] = loss == LOSS_DR_GRPO ? r[g] - mean : (r[g] - mean) / (sd + 1e-4);
    }
}

// J(theta) = sum_i norm_i sum_t ( min(rho A_i, clip(rho, 1-el, 1+eh) A_i) - beta KL_k3 )
// over the n rows of k, with norm_i = 1/(n |o_i|) (grpo), 1/(n n_ctx)
// (dr_grpo), 1/(all completion tokens of k) (dapo). In double, from the
// policy's float log-probabilities at theta.
static double surrogate(void *p) {
    Surrogate *s = p;
    const GrpoOpts *o = s->o;
    const Seqs *k = s->k;
    grpo_logp(s->policy, o, k, s->logp);
    long tokens = 0;
    for (int i = 0; i < k->n; i++) tokens += k->len[i] - k->plen[i];
    double J = 0;
    for (int i = 0; i < k->n; i++) {
        const int out_len = k->len[i] - k->plen[i];
        const double norm = o->loss == LOSS_GRPO ? 1.0 / ((double)k->n * out_len)
                          : o->loss == LOSS_DR_GRPO ? 1.0 / ((double)k->n * k->T) : 1.0 / (double)tokens;
        const double A = s->adv[i];
        for (int t = 0; t < s->Tb; t++) {
            const int bt = i * s->Tb + t;
            if (s->targets[bt] < 0) continue;
            const double lp = s->logp[bt], rho = exp(lp - s->logp_old[bt]);
            const double rho_c = fmin(fmax(rho, 1.0 - o->clip_low), 1.0 + o->clip_high);
            const double r = s->logp_ref[bt] - lp, kl = exp(r) - r - 1.0;
            J += norm * (fmin(rho * A, rho_c * A) - o->beta * kl);
        }
    }
    return J;
}

static double central_diff(Surrogate *s, float *x, float eps) {
    const float x0 = *x;
    *x = x0 + eps; const float up = *x; double Jp = surrogate(s);
    *x = x0 - eps; const float down = *x; double Jm = surrogate(s);
    *x = x0;
    return (Jp - Jm) / ((double)up - (double)down);
}

// The noise: the forward runs in float, so each of the 27 log-probabilities
// J sums carries a rounding of ~4e-7, and J (~1 in size, its KL terms
// included) ~1e-6: ~1e-4 in a difference quotient over 2e-2, measured too
// (entries with a gradient of 2e-3..1e-2 come out 1e-4 off at eps 1e-2; at
// 3e-2 a step can cross a clip edge). So entries are compared relative to
// |num| + |ana| with a floor of 5% of the largest gradient entry of the case
// (an absolute error of 5e-4 * max|g| for small entries), and the derivative
// along a random direction over a whole tensor, O(max|g|), with the same
// floor. Correct code lands below 3e-3 where rho is within e^+-0.55 of 1,
// below 8e-3 on the second mini-batch (rho up to e^2.8 scales the noise; -O1
// too); a wrong sign, normaliser, advantage, clip or KL sign moves entries
// by 4% to 200% (errors of 0.04 to 1).
#define SUR_FLOOR 0.05
#define SUR_TOL 2e-2

// The gradient in s->policy->grads (-dJ/dtheta) against central differences
// of J, on the entry with the largest gradient and four at random of every
// tensor, and along a random direction over each whole tensor. Prints the
// largest relative error as "label: ..." and fails if it is above SUR_TOL.
static double compare_with_fd(Surrogate *s, Rng *rng, const char *label, const GrpoTally *tally) {
    Model *m = s->policy;
    size_t sz[N_PARAM_TENSORS];
    param_sizes(&m->config, sz);
    double gmax = 0;
    for (size_t i = 0; i < m->num_params; i++) gmax = fmax(gmax, fabs(m->grads_memory[i]));
    const double floor = SUR_FLOOR * gmax, J = surrogate(s);
    double worst = 0, worst_num = 0, worst_ana = 0;
    char where[64] = "";
    size_t off = 0;
    for (int tn = 0; tn < N_PARAM_TENSORS; tn++) {
        float *x = m->params_memory + off;
        const float *g = m->grads_memory + off;
        size_t big = 0;
        for (size_t i = 1; i < sz[tn]; i++) if (fabsf(g[i]) > fabsf(g[big])) big = i;
        for (int e = 0; e < 5; e++) {
            size_t i = e == 0 ? big : (size_t)rng_int(rng, (int)sz[tn]);
            double num = central_diff(s, x + i, 1e-2f), ana = -(double)g[i];
            double err = fabs(num - ana) / fmax(fabs(num) + fabs(ana), floor);
            if (err > worst) {
                worst = err; worst_num = num; worst_ana = ana;
                snprintf(where, sizeof where, "%s[%zu]", PARAM_NAMES[tn], i);
            }
        }
        // the derivative along a random direction d over the whole tensor:
        // (J(x + eps d) - J(x - eps d)) / 2eps against -grads . d
        float *d = xmalloc(sizeof(float) * sz[tn], "test"), *x0 = xmalloc(sizeof(float) * sz[tn], "test");
        memcpy(x0, x, sizeof(float) * sz[tn]);
        double ana = 0;
        for (size_t i = 0; i < sz[tn]; i++) { d[i] = rng_normal(rng); ana -= (double)g[i] * d[i]; }
        for (size_t i = 0; i < sz[tn]; i++) x[i] = x0[i] + 1e-3f * d[i];
        double Jp = surrogate(s);
        for (size_t i = 0; i < sz[tn]; i++) x[i] = x0[i] - 1e-3f * d[i];
        double Jm = surrogate(s);
        memcpy(x, x0, sizeof(float) * sz[tn]);
        double num = (Jp - Jm) / 2e-3, err = fabs(num - ana) / fmax(fabs(num) + fabs(ana), floor);
        if (err > worst) {
            worst = err; worst_num = num; worst_ana = ana;
            snprintf(where, sizeof where, "%s, a random direction", PARAM_NAMES[tn]);
        }
        free(d); free(x0);
        off += sz[tn];
    }
    printf("grpo surrogate %s: J = %+.5f, %ld tokens (%ld clipped), largest relative error %.2e (%s), max|g| %.3g\n",
           label, J, tally->tokens, tally->clipped, worst, where, gmax);
    CHECK(worst < SUR_TOL, "%s: dJ along %s: central difference %.7g, -grads %.7g (rel err %.3e)",
          label, where, worst_num, worst_ana, worst);
    return gmax;
}

// The fixed setting of every case: a random policy, a reference that is the
// policy moved, the rollouts, the options (beta 0.3, temperature 0.9, one
// micro-batch), the advantages from group_advantages and by hand.
typedef struct {
    Model policy, ref;
    Seqs k;
    GrpoOpts o;
    float adv[FD_N];
    double adv_hand[FD_N];
    float *logp_old, *logp_ref, *logp;   // (FD_N, FD_CTX) each
} Setting;

static void setting_init(Setting *st, int loss, Rng *rng) {
    Config c = { 270, FD_CTX, 16, 2, 2 };
    model_alloc(&st->policy, &c);
    init_random(&st->policy, rng);
    copy_model(&st->ref, &st->policy);
    for (size_t i = 0; i < st->ref.num_params; i++) st->ref.params_memory[i] += 0.15f * rng_normal(rng);
    fixed_rollouts(&st->k, c.vocab_size, rng);
    st->o = ZERO_DEFAULTS;
    st->o.loss = loss; st->o.beta = 0.3f; st->o.temperature = 0.9f; st->o.micro = FD_N;
    st->o.clip_low = 0.2f; st->o.clip_high = loss == LOSS_DAPO ? DAPO_CLIP_HIGH : 0.2f;
    float reward[FD_N];
    int flat[FD_Q];
    memcpy(reward, FD_REWARD, sizeof reward);
    group_advantages(reward, FD_Q, FD_G, loss, st->adv, flat);
    advantages_by_hand(loss, st->adv_hand);
    const size_t NT = (size_t)FD_N * FD_CTX;
    st->logp_ref = xcalloc(NT, sizeof(float), "test");
    st->logp_old = xcalloc(NT, sizeof(float), "test");
    st->logp = xcalloc(NT, sizeof(float), "test");
}
static void setting_free(Setting *st) {
    free(st->logp_ref); free(st->logp_old); free(st->logp);
    seqs_free(&st->k);
    model_free(&st->policy); model_free(&st->ref);
}

// One case on all FD_N rows: rho1: the policy is pi_old (grpo_gradient fills
// logp_old from its own forward, as on grpo_step's first update); otherwise
// pi_old is the policy moved by log rho in -0.5..0.55 per token, none within
// 0.06 of a clip edge (0.8, 1.2, 1.28), so that both branches of the min
// occur and a difference step never crosses an edge.
static void check_surrogate(int loss, int rho1, Rng *rng) {
    Setting st;
    setting_init(&st, loss, rng);
    Seqs *k = &st.k;
    int inputs[FD_N * FD_CTX], targets[FD_N * FD_CTX];
    const int Tb = seqs_batch(k, 0, FD_N, 1, inputs, targets);
    const long batch_tokens = completion_tokens(k);
    grpo_logp(&st.ref, &st.o, k, st.logp_ref);
    grpo_logp(&st.policy, &st.o, k, st.logp_old);
    const float log_rho[6] = { -0.5f, 0.3f, -0.12f, 0.55f, 0.1f, -0.3f };
    int n_tok = 0;
    if (!rho1)
        for (int bt = 0; bt < FD_N * Tb; bt++) if (targets[bt] >= 0) st.logp_old[bt] -= log_rho[n_tok++ % 6];
    // the gradient r1.c puts into the parameters: -dJ/dtheta
    GrpoTally tally = { 0 };
    grpo_gradient(&st.policy, &st.o, k, st.adv, batch_tokens, st.logp_old, st.logp_ref, rho1, &tally);
    CHECK(tally.tokens == batch_tokens, "%s: %ld tokens got a coefficient, want %ld", LOSS_NAMES[loss], tally.tokens, batch_tokens);
    CHECK(rho1 ? tally.clipped == 0 : tally.clipped > 0 && tally.clipped < tally.tokens,
          "%s%s: %ld of %ld tokens clipped", LOSS_NAMES[loss], rho1 ? " rho = 1" : "", tally.clipped, tally.tokens);
    Surrogate s = { &st.policy, &st.o, k, Tb, targets, st.adv_hand, st.logp_old, st.logp_ref, st.logp };
    char label[64];
    snprintf(label, sizeof label, "%-7s %s", LOSS_NAMES[loss], rho1 ? "rho = 1 " : "rho != 1");
    const double gmax = compare_with_fd(&s, rng, label, &tally);
    // the same gradient in micro-batches of 2 rows (memory only; the same
    // sum, in another order): each row keeps its own advantage and normaliser
    if (rho1) {
        float *g_all = xmalloc(sizeof(float) * st.policy.num_params, "test");
        memcpy(g_all, st.policy.grads_memory, sizeof(float) * st.policy.num_params);
        st.o.micro = 2;
        grpo_logp(&st.ref, &st.o, k, st.logp_ref);
        GrpoTally t2 = { 0 };
        grpo_gradient(&st.policy, &st.o, k, st.adv, batch_tokens, st.logp_old, st.logp_ref, 1, &t2);
        double off = 0;
        for (size_t i = 0; i < st.policy.num_params; i++) off = fmax(off, fabs(st.policy.grads_memory[i] - g_all[i]));
        CHECK(off < 1e-5 * gmax, "%s: micro-batches of 2 rows give another gradient (off by %.3g, max|g| %.3g)",
              LOSS_NAMES[loss], off, gmax);
        free(g_all);
    }
    setting_free(&st);
}

// Mini-batches (--minibatches 2), as grpo_step takes them: pi_old's
// log-probabilities of the second half (the second question's outputs) are
// taken first; then an optimizer step on the first half moves the policy, so
// that on the second half rho != 1 though nothing but the policy itself set
// pi_old. Its gradient is checked there.
static void check_minibatch_surrogate(int loss, Rng *rng) {
    Setting st;
    setting_init(&st, loss, rng);
    const int T = FD_CTX, half = FD_N / 2;
    const Seqs first = seqs_rows(&st.k, 0, half), second = seqs_rows(&st.k, half, FD_N);
    float *old2 = st.logp_old + (size_t)half * T, *ref2 = st.logp_ref + (size_t)half * T;
    grpo_logp(&st.ref, &st.o, &first, st.logp_ref);
    grpo_logp(&st.ref, &st.o, &second, ref2);
    grpo_logp(&st.policy, &st.o, &second, old2);                     // before any update
    GrpoTally tally = { 0 };
    grpo_gradient(&st.policy, &st.o, &first, st.adv, completion_tokens(&first), st.logp_old, st.logp_ref, 1, &tally);
    clip_grad_norm(&st.policy, st.o.max_grad_norm);
    adamw_update(&st.policy, 1e-2f, 0.9f, 0.99f, 1e-8f, 0.0f);
    tally = (GrpoTally){ 0 };
    grpo_gradient(&st.policy, &st.o, &second, st.adv + half, completion_tokens(&second), old2, ref2, 0, &tally);
    int inputs[FD_N * FD_CTX], targets[FD_N * FD_CTX];
    const int Tb = seqs_batch(&second, 0, second.n, 1, inputs, targets);
    // the largest |log rho| on the second half, and how close a rho comes to
    // a clip edge (in log rho: a difference step moves log pi by up to ~0.01)
    double moved = 0, edge = 1;
    grpo_logp(&st.policy, &st.o, &second, st.logp);
    for (int bt = 0; bt < second.n * Tb; bt++) {
        if (targets[bt] < 0) continue;
        const double lr = st.logp[bt] - old2[bt];
        moved = fmax(moved, fabs(lr));
        edge = fmin(edge, fmin(fabs(lr - log(1.0 - st.o.clip_low)), fabs(lr - log(1.0 + st.o.clip_high))));
    }
    CHECK(moved > 0.05 && tally.clipped > 0, "%s: after the first mini-batch's step, |log rho| <= %.3g and %ld tokens clipped "
          "on the second", LOSS_NAMES[loss], moved, tally.clipped);
    CHECK(edge > 0.03, "%s: a rho of the second mini-batch is %.3g from a clip edge in log rho: a difference step "
          "may cross it (choose another step)", LOSS_NAMES[loss], edge);
    Surrogate s = { &st.policy, &st.o, &second, Tb, targets, st.adv_hand + half, old2, ref2, st.logp };
    char label[96];
    snprintf(label, sizeof label, "%-7s 2nd mini-batch (|log rho| up to %.2f, >= %.2f from a clip edge)", LOSS_NAMES[loss], moved, edge);
    compare_with_fd(&s, rng, label, &tally);
    setting_free(&st);
}

static void test_surrogate(void) {
    Rng rng = rng_seed(7);
    for (int loss = 0; loss < 3; loss++) {
        for (int rho1 = 0; rho1 < 2; rho1++) check_surrogate(loss, rho1, &rng);
        check_minibatch_surrogate(loss, &rng);
    }
}

// ----------------------------------------------------------------------------
// 2. group-relative advantages, worked out by hand (eq. 3)

static void test_advantages_by_hand(void) {
    enum { Q = 4, G = 4 };
    // {0,1,1,1}: mean 0.75, squares 0.5625 + 3 * 0.0625 = 0.75, unbiased
    //            variance 0.75/3 = 0.25, std 0.5
    // {2,0,2,0}: mean 1, squares 4, variance 4/3, std 2/sqrt(3)
    // {5,1,3,3}: mean 3, squares 8, variance 8/3, std sqrt(8/3)
    // {0.25 x 4}: flat
    const float r[Q * G] = { 0, 1, 1, 1,  2, 0, 2, 0,  5, 1, 3, 3,  0.25f, 0.25f, 0.25f, 0.25f };
    const double sd[Q] = { 0.5, 2.0 / sqrt(3.0), sqrt(8.0 / 3.0), 0 };
    const double dev[Q * G] = { -0.75, 0.25, 0.25, 0.25,  1, -1, 1, -1,  2, -2, 0, 0,  0, 0, 0, 0 };
    for (int loss = 0; loss < 3; loss++) {
        float adv[Q * G];
        int flat[Q];
        float reward_std = group_advantages(r, Q, G, loss, adv, flat);
        double worst = 0;
        int at = 0;
        for (int i = 0; i < Q * G; i++) {
            double want = loss == LOSS_DR_GRPO ? dev[i] : dev[i] / (sd[i / G] + 1e-4);
            double err = fabs(adv[i] - want);
            if (err > worst) { worst = err; at = i; }
        }
        CHECK(worst < 1e-6, "%s: advantage %d is %.8g, by hand %.8g", LOSS_NAMES[loss], at, adv[at],
              loss == LOSS_DR_GRPO ? dev[at] : dev[at] / (sd[at / G] + 1e-4));
        CHECK(!flat[0] && !flat[1] && !flat[2] && flat[3], "%s: flat %d %d %d %d, want 0 0 0 1", LOSS_NAMES[loss],
              flat[0], flat[1], flat[2], flat[3]);
        int zero = 1;
        for (int g = 0; g < G; g++) zero &= adv[3 * G + g] == 0.0f;
        CHECK(zero, "%s: a flat group's advantages are not exactly 0", LOSS_NAMES[loss]);
        double want_std = (sd[0] + sd[1] + sd[2] + sd[3]) / Q;
        CHECK(fabs(reward_std - want_std) < 1e-6, "%s: reward_std %.8g, by hand %.8g", LOSS_NAMES[loss], reward_std, want_std);
        printf("advantages %-7s: largest difference from the hand-worked values %.1e\n", LOSS_NAMES[loss], worst);
    }
}

// ----------------------------------------------------------------------------
// 3. each loss's normaliser, for outputs of 3 and 7 tokens

static void test_normaliser(void) {
    enum { T = 16, P = 2 };
    const int olen[2] = { 3, 7 };
    Seqs k;
    seqs_alloc(&k, 2, T);
    for (int i = 0; i < 2; i++) { k.plen[i] = P; k.len[i] = P + olen[i]; }
    int inputs[2 * T], targets[2 * T];
    const int Tb = seqs_batch(&k, 0, 2, 1, inputs, targets);
    float zero[2 * T] = { 0 }, coef[2 * T], adv[2] = { 1.0f, 1.0f };
    // rho = 1, A = 1, beta = 0: dJ/dlogp = 1, so each coefficient is norm_i
    // want[loss][i]: grpo 1/(N |o_i|), dr_grpo 1/(N n_ctx), dapo 1/(3 + 7)
    const float want[3][2] = { { 1.0f / (2 * 3), 1.0f / (2 * 7) }, { 1.0f / (2 * T), 1.0f / (2 * T) }, { 0.1f, 0.1f } };
    for (int loss = 0; loss < 3; loss++) {
        GrpoOpts o = ZERO_DEFAULTS;
        o.loss = loss; o.beta = 0.0f;
        GrpoTally tally = { 0 };
        grpo_coefficients(&o, &k, 0, 2, Tb, targets, zero, zero, NULL, adv, 10, coef, &tally);
        int bad = 0, n[2] = { 0, 0 };
        float seen[2] = { 0, 0 };
        for (int i = 0; i < 2; i++)
            for (int t = 0; t < Tb; t++) {
                const float cf = coef[i * Tb + t];
                if (targets[i * Tb + t] < 0) { bad += cf != 0.0f; continue; }
                n[i]++; seen[i] = cf;
                bad += fabsf(cf - want[loss][i]) > 1e-6f * want[loss][i];
            }
        CHECK(bad == 0 && n[0] == 3 && n[1] == 7, "%s: coefficients %g (3 tokens) and %g (7 tokens), want %g and %g; "
              "%d tokens off, %d and %d tokens weighted", LOSS_NAMES[loss], seen[0], seen[1], want[loss][0], want[loss][1],
              bad, n[0], n[1]);
        printf("normaliser %-7s: a token of a 3-token output gets %.4f, of a 7-token output %.4f (ratio %.3f)\n",
               LOSS_NAMES[loss], seen[0], seen[1], seen[0] / seen[1]);
    }
    seqs_free(&k);
}

// ----------------------------------------------------------------------------
// 4. behaviour: a rewarded answer becomes more likely

// One question, always the same; the reward looks for the answer "7".
static void fixed_question(void *ctx, Rng *rng, Question *q) {
    (void)ctx; (void)rng;
    memset(q, 0, sizeof *q);
    snprintf(q->text, sizeof q->text, "3+4");
    q->expected = 7;
}
static float is_7(const char *text, size_t len, int truncated, const Question *q) {
    (void)truncated; (void)q;
    return len == 1 && text[0] == '7' ? 1.0f : 0.0f;
}
static float not_7(const char *text, size_t len, int truncated, const Question *q) {
    return 1.0f - is_7(text, len, truncated, q);
}

// log pi(completion | prompt) for the question's prompt and the completion
// "7<|end|>", at temperature 1.
static double answer_logp(Model *m, const World *w) {
    Seqs s;
    seqs_alloc(&s, 1, m->config.n_ctx);
    seqs_set_prompt(&s, 0, &w->tok, "3+4", NULL);
    s.tok[s.len[0]++] = '7';
    s.tok[s.len[0]++] = TOK_END;
    int inputs[128], targets[128];
    const int Tb = seqs_batch(&s, 0, 1, 1, inputs, targets);
    model_forward(m, inputs, targets, 1, Tb, 1.0f, 0);
    double lp = 0;
    for (int t = 0; t < Tb; t++) lp += m->logp[t];
    seqs_free(&s);
    return lp;
}

// A fresh model_init model whose outputs are mostly "7", "3" and <|end|>:
// their embedding (also their unembedding) is one unit vector u, and the
// final LayerNorm's bias adds 8u, so that each has a logit of ~8 against ~0
// for the other tokens. Completions are then short, and about one in ten is
// "7" alone (log p = -2.4): a group of 8 often has both rewards.
static void peaked_model(Model *m, const World *w, Rng *rng) {
    Config c = { tok_vocab_size(&w->tok), 32, 16, 1, 2 };
    model_alloc(m, &c);
    model_init(m, rng);
    const int D = c.d_model, peak[3] = { '7', '3', TOK_END };
    float u[64];
    double norm = 0;
    for (int i = 0; i < D; i++) { u[i] = rng_normal(rng); norm += u[i] * u[i]; }
    for (int i = 0; i < D; i++) u[i] /= (float)sqrt(norm);
    for (int j = 0; j < 3; j++) memcpy(m->params.tok_emb + (size_t)peak[j] * D, u, sizeof(float) * (size_t)D);
    for (int i = 0; i < D; i++) m->params.lnfb[i] = 8.0f * u[i];
}

// GRPO steps of 2 questions x 8 from the peaked model with the reward r
// (at lr 1e-2, to move in a few steps); returns how much log pi("7<|end|>")
// rose.
static double grpo_moves(const World *w, Reward r, int steps, double *before) {
    Rng rng = rng_seed(11);
    Model m, ref;
    peaked_model(&m, w, &rng);
    copy_model(&ref, &m);
    GrpoOpts o = ZERO_DEFAULTS;
    o.steps = steps; o.prompts = 2; o.group = 8; o.lr = 1e-2f;
    KVCache kv;
    kv_alloc(&kv, &m.config, o.prompts * o.group);
    RlTask task = { .prompts = { fixed_question, NULL }, .n_reward = 1, .reward = { r } };
    *before = answer_logp(&m, w);
    GrpoStats st;
    for (int step = 0; step < steps; step++) grpo_step(&m, &ref, &kv, w, &o, &task, step, &rng, &st);
    double after = answer_logp(&m, w);
    kv_free(&kv); model_free(&m); model_free(&ref);
    return after - *before;
}

static void test_rewarded_answer_rises(const World *w) {
    double before;
    double up = grpo_moves(w, (Reward){ "answer_7", is_7, 1.0f, .general_too = 0 }, 5, &before);
    double down = grpo_moves(w, (Reward){ "not_7", not_7, 1.0f, .general_too = 0 }, 5, &before);
    printf("behaviour: log p(\"7<|end|>\") from %.3f: %+.3f after 5 steps rewarding it, %+.3f after 5 penalising it\n",
           before, up, down);
    CHECK(up > 0.2, "rewarding the answer 7 moved log p(\"7<|end|>\") by %+.3f, want > +0.2", up);
    CHECK(down < -0.2, "penalising the answer 7 moved log p(\"7<|end|>\") by %+.3f, want < -0.2", down);
}

// grpo_step with --minibatches: one update (mu = 1) in 1 step never clips
// (rho = 1); in 4 steps, the later ones see the policy the earlier moved,
// and clip; in 4 steps at learning rate 0 the policy stays pi_old, and
// nothing clips (pi_old's log-probabilities of every part are the policy's
// before the first step). The rollouts are the same (the same Rng).
static void test_minibatch_steps(const World *w) {
    float clip[3];
    for (int v = 0; v < 3; v++) {
        Rng rng = rng_seed(3);
        Model m, ref;
        peaked_model(&m, w, &rng);
        copy_model(&ref, &m);
        GrpoOpts o = ZERO_DEFAULTS;
        o.steps = 1; o.prompts = 4; o.group = 8; o.lr = v == 2 ? 0.0f : 3e-2f; o.micro = 4; o.minibatches = v ? 4 : 1;
        KVCache kv;
        kv_alloc(&kv, &m.config, o.prompts * o.group);
        RlTask task = { .prompts = { fixed_question, NULL }, .n_reward = 1, .reward = { { "answer_7", is_7, 1.0f, 0 } } };
        GrpoStats st;
        grpo_step(&m, &ref, &kv, w, &o, &task, 0, &rng, &st);
        clip[v] = st.clip_frac;
        CHECK(m.step == o.minibatches, "--minibatches %d took %ld optimizer steps", o.minibatches, m.step);
        kv_free(&kv); model_free(&m); model_free(&ref);
    }
    CHECK(clip[0] == 0.0f && clip[1] > 0.0f && clip[2] == 0.0f,
          "clip_frac %g in 1 step, %g in 4 mini-batches, %g in 4 at lr 0: want 0, > 0, 0", clip[0], clip[1], clip[2]);
    printf("mini-batches: clip_frac %.3f in one step, %.3f in 4 mini-batch steps, %.3f in 4 at lr 0\n", clip[0], clip[1], clip[2]);
}

// ----------------------------------------------------------------------------
// 5. the rows an update sees: DAPO's dynamic sampling and the length sort
//    move each row with its own advantage

// Q = 3 groups of G = 4 rows; the first group's rewards are all equal (flat).
// Row i's first token is i and its completion 1 + (7 i mod 5) tokens long
// (not in order); its advantage, as a tag, 100 + i. After grpo_keep_rows
// (into 2 mini-batches) every row left must carry its own tag, dapo must
// have dropped exactly the flat group and grpo nothing, every original row
// must appear once, each mini-batch must be sorted by length and hold the
// rows it held before the sort, and the returned count must be their
// completion tokens.
static void test_keep_rows(void) {
    enum { Q = 3, G = 4, N = Q * G, T = 12 };
    for (int loss = 0; loss < 3; loss++) {
        Seqs s, k;
        seqs_alloc(&s, N, T);
        float adv[N];
        const int flat[Q] = { 1, 0, 0 };
        long want_tokens = 0;
        for (int i = 0; i < N; i++) {
            s.plen[i] = 2; s.len[i] = 2 + 1 + (7 * i) % 5;
            for (int t = 0; t < T; t++) s.tok[i * T + t] = t == 0 ? i : 50 + t;
            adv[i] = 100.0f + (float)i;
            if (loss != LOSS_DAPO || !flat[i / G]) want_tokens += s.len[i] - s.plen[i];
        }
        int nb = 2;
        const long tokens = grpo_keep_rows(&s, &k, adv, flat, G, loss, &nb);
        const int want_n = loss == LOSS_DAPO ? N - G : N;
        int seen[N] = { 0 }, bad_adv = 0, bad_len = 0, unsorted = 0, wrong_part = 0;
        for (int r = 0; r < k.n; r++) {
            const int i = k.tok[r * T];
            if (i < 0 || i >= N) { bad_adv++; continue; }
            seen[i]++;
            bad_adv += adv[r] != 100.0f + (float)i;
            bad_len += k.len[r] - k.plen[r] != 1 + (7 * i) % 5;
            const int part = r >= minibatch_start(1, nb, k.n), first = loss == LOSS_DAPO ? G : 0;
            wrong_part += part != (i - first >= minibatch_start(1, nb, k.n));
            if (r > 0 && r != minibatch_start(1, nb, k.n)) unsorted += k.len[r - 1] > k.len[r];
        }
        int missing = 0;
        for (int i = 0; i < N; i++) missing += seen[i] != (loss == LOSS_DAPO && flat[i / G] ? 0 : 1);
        CHECK(k.n == want_n && nb == 2 && missing == 0, "%s: kept %d rows in %d mini-batches, want %d in 2 (%d rows "
              "missing, twice or wrongly kept)", LOSS_NAMES[loss], k.n, nb, want_n, missing);
        CHECK(bad_adv == 0 && bad_len == 0, "%s: %d kept rows carry another row's advantage, %d another's length",
              LOSS_NAMES[loss], bad_adv, bad_len);
        CHECK(unsorted == 0 && wrong_part == 0, "%s: %d rows out of length order, %d in another mini-batch",
              LOSS_NAMES[loss], unsorted, wrong_part);
        CHECK(tokens == want_tokens, "%s: %ld completion tokens returned, want %ld", LOSS_NAMES[loss], tokens,
              want_tokens);
        seqs_free(&s);
    }
}

// ----------------------------------------------------------------------------
// 6. what reaches the optimizer: the gradient clip, and the reference reset

// grpo_step logs the gradient's norm before the clip, and AdamW gets the
// clipped gradient: after a step (AdamW leaves the gradient in place) the
// gradient's norm is at most max_grad_norm, here far below the logged one.
static void test_grad_clip(const World *w) {
    Rng rng = rng_seed(5);
    Model m, ref;
    peaked_model(&m, w, &rng);
    copy_model(&ref, &m);
    GrpoOpts o = ZERO_DEFAULTS;
    o.steps = 1; o.prompts = 4; o.group = 8; o.micro = 8; o.max_grad_norm = 1e-3f;
    KVCache kv;
    kv_alloc(&kv, &m.config, o.prompts * o.group);
    RlTask task = { .prompts = { fixed_question, NULL }, .n_reward = 1, .reward = { { "answer_7", is_7, 1.0f, 0 } } };
    GrpoStats st;
    grpo_step(&m, &ref, &kv, w, &o, &task, 0, &rng, &st);
    double ss = 0;
    for (size_t i = 0; i < m.num_params; i++) ss += (double)m.grads_memory[i] * m.grads_memory[i];
    CHECK(st.zero_var < 1.0f && st.grad_norm > 10 * o.max_grad_norm && sqrt(ss) <= o.max_grad_norm * 1.0001,
          "grad clip at %g: logged norm %g (zero-variance groups %g), the optimizer's gradient %g", o.max_grad_norm,
          st.grad_norm, st.zero_var, sqrt(ss));
    printf("grad clip: logged norm %.4f, AdamW's gradient %.6f (max %g)\n", st.grad_norm, sqrt(ss), o.max_grad_norm);
    kv_free(&kv); model_free(&m); model_free(&ref);
}

// A reward with signal inside most groups: the completion's length is odd.
static float odd_length(const char *text, size_t len, int truncated, const Question *q) {
    (void)text; (void)truncated; (void)q;
    return (float)(len % 2);
}

// 3 steps of rl_loop from base (2 questions x 4, lr 1e-2) at this beta and
// --ref-reset, into out; the same coins every time.
static void three_steps(const World *w, const Model *base, float beta, int ref_reset, Model *out) {
    RunIO none = { NULL, 1000, 0, 1, NULL, NULL, 0 };
    RunOpts ro = { none, 1000, 0, EVAL_SAMPLING };                 // evaluates at steps 0 and 3 only
    GrpoOpts o = ZERO_DEFAULTS;
    o.steps = 3; o.prompts = 2; o.group = 4; o.lr = 1e-2f; o.beta = beta; o.ref_reset = ref_reset;
    RlTask task = { .prompts = { fixed_question, NULL }, .n_reward = 1, .reward = { { "odd", odd_length, 1.0f, 0 } } };
    copy_model(out, base);
    Rng rng = rng_seed(11);
    rl_loop(out, w, &o, &task, "ref_reset", "test", &ro, &rng, NULL, NULL);
}

// --ref-reset N (the paper: every 400 steps) copies the policy into the
// reference after every N-th step of rl_loop. With beta > 0 the KL term then
// pulls towards another model, so 3 steps with --ref-reset 1 end elsewhere
// than without; with --ref-reset 3 the only copy comes after the last
// update, and at beta = 0 the reference is never read: both end where a
// run without a reset ends, to the bit.
static void test_ref_reset(const World *w) {
    Config c = { tok_vocab_size(&w->tok), 80, 16, 1, 2 };
    Rng init = rng_seed(9);
    Model base, none, every, last, none0, every0;
    model_alloc(&base, &c);
    init_random(&base, &init);
    three_steps(w, &base, 0.5f, 0, &none);
    three_steps(w, &base, 0.5f, 1, &every);
    three_steps(w, &base, 0.5f, 3, &last);
    three_steps(w, &base, 0.0f, 0, &none0);
    three_steps(w, &base, 0.0f, 1, &every0);
    const size_t bytes = base.num_params * sizeof(float);
    CHECK(memcmp(none.params_memory, base.params_memory, bytes) != 0, "3 GRPO steps left the policy unchanged");
    CHECK(memcmp(every.params_memory, none.params_memory, bytes) != 0,
          "--ref-reset 1 at beta 0.5 ends where no reset does: the reference was never replaced");
    CHECK(memcmp(last.params_memory, none.params_memory, bytes) == 0,
          "--ref-reset 3 (a copy after the last of 3 steps) changed the training");
    CHECK(memcmp(every0.params_memory, none0.params_memory, bytes) == 0,
          "at beta 0, --ref-reset 1 changed the training (the reference read without a KL term)");
    model_free(&base); model_free(&none); model_free(&every); model_free(&last); model_free(&none0); model_free(&every0);
}

int main(void) {
    test_surrogate();
    test_advantages_by_hand();
    test_normaliser();
    test_keep_rows();
    World w;
    world_load(&w, "data");
    test_rewarded_answer_rises(&w);
    test_minibatch_steps(&w);
    test_grad_clip(&w);
    test_ref_reset(&w);
    world_free(&w);
    return tests_done("grpo");
}
