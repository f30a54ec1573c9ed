// SPDX-License-Identifier: Apache-2.0
// The one exception type the project throws from constructors and config loading.
#pragma once

#include <stdexcept>
#include <string>

namespace mto {

// A failure a person can act on: the message names the file, key or resource and what is wrong.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

} // namespace mto
