// SPDX-License-Identifier: Apache-2.0
// Random (version 4) UUIDs for event ids; thread-bound.
#pragma once

#include <boost/random/mersenne_twister.hpp>
#include <boost/uuid/random_generator.hpp>
#include <string>

namespace mto {

class UuidGenerator {
public:
    std::string next();

private:
    // Seeded once from the system's entropy source; asking the kernel for every id costs a syscall per event.
    boost::uuids::basic_random_generator<boost::random::mt19937> gen_;
};

} // namespace mto
