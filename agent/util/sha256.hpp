// SPDX-License-Identifier: Apache-2.0
// SHA-256 hex digests (OpenSSL EVP).
#pragma once

#include <string>
#include <string_view>

namespace mto {

std::string sha256Hex(std::string_view data);

} // namespace mto
