// SPDX-License-Identifier: Apache-2.0
// Random (version 4) UUIDs for event ids; thread-bound.
#pragma once

#include <boost/uuid/random_generator.hpp>
#include <string>

namespace mto {

class UuidGenerator {
public:
    std::string next();

private:
    boost::uuids::random_generator gen_;
};

} // namespace mto
