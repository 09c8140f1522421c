#!/bin/sh
# tests/safetensors_diff.sh -- compare two r1 checkpoints byte for byte and,
# if they differ, say where: which tensors, in how many floats and bytes, by
# how much (the largest absolute difference and the largest distance in
# ulps, the number of floats between the two values).
#
#     sh tests/safetensors_diff.sh A.safetensors B.safetensors
#
# Prints "identical (N bytes)" and exits 0, or "DIFFERENT: ..." followed by
# one line per differing tensor and exits 1; exits 2 if a file is missing.
# Used by tests/test_width.sh and tests/cross_check.sh.

LC_ALL=C; export LC_ALL
a=$1 b=$2
for f in "$a" "$b"; do
    [ -f "$f" ] || { echo "no such checkpoint: $f"; exit 2; }
done
if cmp -s "$a" "$b"; then echo "identical ($(wc -c <"$a" | tr -d ' ') bytes)"; exit 0; fi
TMP=$(mktemp -d /tmp/r1-stdiff.XXXXXX) || exit 2
trap 'rm -rf "$TMP"' EXIT
trap 'exit 2' HUP INT TERM

# header_len FILE: the 8-byte little-endian length of the JSON header
header_len() { od -An -tu8 -N8 "$1" | tr -d ' '; }

# tensors FILE: one line per tensor, "name start end" (data offsets), in file order
tensors() {
    n=$(header_len "$1")
    head -c $((8 + n)) "$1" | tail -c "$n" | awk '{
        s = $0
        while (match(s, /"[^"]*":\{"dtype":"[^"]*","shape":\[[^]]*\],"data_offsets":\[[0-9]+,[0-9]+\]/)) {
            t = substr(s, RSTART + 1, RLENGTH - 1); s = substr(s, RSTART + RLENGTH)
            name = substr(t, 1, index(t, "\"") - 1)
            sub(/.*"data_offsets":\[/, "", t); split(t, o, /[],]/)
            print name, o[1], o[2]
        }
    }'
}

ha=$(header_len "$a") hb=$(header_len "$b")
tensors "$a" >"$TMP/ta"; tensors "$b" >"$TMP/tb"
if ! cmp -s "$TMP/ta" "$TMP/tb"; then
    echo "DIFFERENT tensor tables (names, shapes or offsets):"
    diff "$TMP/ta" "$TMP/tb" | head -n 20; exit 1
fi
head -c $((8 + ha)) "$a" >"$TMP/hdr-a"; head -c $((8 + hb)) "$b" >"$TMP/hdr-b"
cmp -s "$TMP/hdr-a" "$TMP/hdr-b" || echo "the header (metadata) differs: $(head -c 300 "$TMP/hdr-b" | tail -c +9)"
# the tensor bytes as 32-bit words, side by side
od -v -An -w4 -tx4 -j $((8 + ha)) "$a" >"$TMP/wa"
od -v -An -w4 -tx4 -j $((8 + hb)) "$b" >"$TMP/wb"
paste "$TMP/wa" "$TMP/wb" | awk -v table="$TMP/ta" '
    function hex(s,   i, v) { v = 0; for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return v }
    function val(u,   e, m) {              # an IEEE-754 single from its bits
        e = int(u / 8388608) % 256; m = u % 8388608
        return (u >= 2147483648 ? -1 : 1) * (e ? (1 + m / 8388608) * 2 ^ (e - 127) : m * 2 ^ -149)
    }
    function ord(u) { return u >= 2147483648 ? 2147483648 - u : u }   # ulps apart = |ord(a) - ord(b)|
    function flush() {
        if (nd[t]) printf "  %-28s %7d of %7d floats differ (%7d bytes), max |diff| %.3g, max %d ulp\n", name[t], nd[t], (hi[t] - lo[t]) / 4, nb[t], md[t], mu[t]
    }
    BEGIN { while ((getline l < table) > 0) { nt++; split(l, f, " "); name[nt] = f[1]; lo[nt] = f[2]; hi[nt] = f[3] } t = 1 }
    {
        off = (NR - 1) * 4
        while (t < nt && off >= hi[t]) { flush(); t++ }
        if ($1 == $2) next
        ua = hex($1); ub = hex($2)
        for (k = 1; k <= 7; k += 2) if (substr($1, k, 2) != substr($2, k, 2)) { nb[t]++; bytes++ }
        nd[t]++; floats++
        d = val(ua) - val(ub); if (d < 0) d = -d; if (d > md[t]) md[t] = d
        u = ord(ua) - ord(ub); if (u < 0) u = -u; if (u > mu[t]) mu[t] = u
    }
    END {
        flush()
        for (i = 1; i <= nt; i++) if (nd[i]) ntd++
        printf "DIFFERENT: %d bytes in %d of %d floats, in %d of %d tensors\n", bytes, floats, NR, ntd, nt
    }' >"$TMP/report"
tail -n 1 "$TMP/report"; sed '$d' "$TMP/report"
exit 1
