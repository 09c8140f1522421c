// tests/fuzz/fuzz_safetensors.c -- load_safetensors on arbitrary bytes.
//
// The input is written to a scratch file and loaded as a checkpoint. What is
// checked, besides "no crash, no UB, no leak, no exit(), no huge allocation":
//   - on failure: a one-line error message, and the model left unallocated;
//   - on success: a configuration that config_check accepts, every parameter
//     finite, at most META_MAX metadata entries, NUL-terminated; and
//     save_safetensors -> load_safetensors gives back the same configuration
//     and bit-identical parameters.
#include "fuzz_common.h"

static int fuzz_safetensors(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_scratch(data, size);
    Model m;
    Meta md;
    char err[512] = "";
    memset(&m, 0, sizeof m);
    if (load_safetensors(path, &m, &md, err, sizeof err) != 0) {
        fuzz_check_error("load_safetensors", err, sizeof err);
        FUZZ_CHECK(m.params_memory == NULL && m.num_params == 0, "a failed load left a model allocated");
        return 0;
    }
    const char *why = config_check(&m.config);
    FUZZ_CHECK(!why, "loaded a model with a bad configuration: %s", why);
    FUZZ_CHECK(m.num_params == param_count(&m.config), "num_params %zu", m.num_params);
    for (size_t i = 0; i < m.num_params; i++) FUZZ_CHECK(isfinite(m.params_memory[i]), "parameter %zu is not finite", i);
    FUZZ_CHECK(md.n >= 5 && md.n <= META_MAX, "%d metadata entries", md.n);
    for (int i = 0; i < md.n; i++)
        FUZZ_CHECK(memchr(md.key[i], '\0', sizeof md.key[i]) && memchr(md.val[i], '\0', sizeof md.val[i]), "metadata %d not terminated", i);

    // save -> load round trip
    Model m2;
    memset(&m2, 0, sizeof m2);
    FUZZ_CHECK(save_safetensors(path, &m.config, &m.params, NULL, err, sizeof err) == 0, "save_safetensors: %s", err);
    FUZZ_CHECK(load_safetensors(path, &m2, NULL, err, sizeof err) == 0, "reloading a saved checkpoint: %s", err);
    FUZZ_CHECK(!memcmp(&m2.config, &m.config, sizeof m.config), "save -> load changed the configuration");
    FUZZ_CHECK(m2.num_params == m.num_params && !memcmp(m2.params_memory, m.params_memory, m.num_params * sizeof(float)),
               "save -> load changed the parameters");
    model_free(&m2);
    model_free(&m);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_safetensors(data, size); }
#endif
