// SPDX-License-Identifier: Apache-2.0
// SHA-256 hex digests (OpenSSL EVP).
#include "sha256.hpp"

#include <openssl/evp.h>

#include "mto/error.hpp"

namespace mto {

std::string sha256Hex(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1)
        throw Error("sha256: OpenSSL EVP_Digest failed");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned int i = 0; i < len; ++i) {
        out.push_back(kHex[digest[i] >> 4]);
        out.push_back(kHex[digest[i] & 0xf]);
    }
    return out;
}

} // namespace mto
