// SPDX-License-Identifier: Apache-2.0
// SHA-256 hex digests (OpenSSL EVP).
#include "util/sha256.hpp"

#include <openssl/evp.h>

#include "mto/error.hpp"

namespace mto {

namespace {

// OpenSSL 3 looks the implementation up in its provider tables (locks, string compares) on every digest
// given EVP_sha256(); fetched once, that lookup leaves the per-order path. A fetched EVP_MD is immutable
// and may be shared between threads.
const EVP_MD* sha256Md() {
    static const EVP_MD* const md = [] {
        const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
        return fetched ? fetched : EVP_sha256();
    }();
    return md;
}

} // namespace

std::string sha256Hex(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), digest, &len, sha256Md(), nullptr) != 1)
        throw Error("sha256: OpenSSL EVP_Digest failed");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(len * 2, '\0');
    for (unsigned int i = 0; i < len; ++i) {
        out[2 * i] = kHex[digest[i] >> 4];
        out[2 * i + 1] = kHex[digest[i] & 0xf];
    }
    return out;
}

} // namespace mto
