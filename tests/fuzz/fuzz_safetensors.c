// tests/fuzz/fuzz_safetensors.c -- load_safetensors on arbitrary bytes.
//
// Two kinds of input (so that the fuzzer can mutate the JSON header without
// first having to keep its 8-byte length prefix and the data size right):
//   - not starting with '{': the bytes of a checkpoint file, as they are;
//   - starting with '{': HEADER NUL LEN4 PATTERN, from which the harness
//     builds the file [8-byte length of HEADER][HEADER][LEN4 data bytes]
//     (LEN4 little-endian, at most 64 KB), the data being PATTERN repeated
//     (zeros if there is no pattern).
// The file is written to a scratch file and loaded as a checkpoint. What is
// checked, besides "no crash, no UB, no leak, no exit(), no huge allocation":
//   - on failure: a one-line error message, and the model left unallocated;
//   - on success: a configuration that config_check accepts, every parameter
//     finite, 5 to META_MAX metadata entries, NUL-terminated; and
//     save_safetensors -> load_safetensors gives back the same configuration
//     and bit-identical parameters.
#include "fuzz_common.h"

// The file of a '{' input (see above); *n its size. NULL if out of memory.
static uint8_t *stfz_build(const uint8_t *data, size_t size, size_t *n) {
    const uint8_t *nul = memchr(data, '\0', size);
    size_t hlen = nul ? (size_t)(nul - data) : size;
    const uint8_t *rest = nul ? nul + 1 : data + size;
    size_t rest_n = (size_t)(data + size - rest), dlen = 0;
    if (rest_n >= 4) {
        dlen = (size_t)rest[0] | (size_t)rest[1] << 8 | (size_t)rest[2] << 16 | (size_t)rest[3] << 24;
        if (dlen > (1u << 16)) dlen = 1u << 16;   // a tiny model needs a few KB
        rest += 4; rest_n -= 4;
    } else rest_n = 0;
    *n = 8 + hlen + dlen;
    uint8_t *file = malloc(*n);
    if (!file) return NULL;
    for (int i = 0; i < 8; i++) file[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(file + 8, data, hlen);
    for (size_t i = 0; i < dlen; i++) file[8 + hlen + i] = rest_n ? rest[i % rest_n] : 0;
    return file;
}

static int fuzz_safetensors(const uint8_t *data, size_t size) {
    const char *path;
    if (size && data[0] == '{') {
        size_t n;
        uint8_t *file = stfz_build(data, size, &n);
        if (!file) return 0;
        path = fuzz_write_scratch(file, n);
        free(file);
    } else {
        path = fuzz_write_scratch(data, size);
    }
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
