// SPDX-License-Identifier: Apache-2.0
// Random (version 4) UUIDs for event ids; thread-bound.
#include "util/uuid.hpp"

#include <boost/uuid/uuid_io.hpp>

namespace mto {

std::string UuidGenerator::next() { return boost::uuids::to_string(gen_()); }

} // namespace mto
