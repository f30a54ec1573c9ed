// SPDX-License-Identifier: Apache-2.0
// Numbered schema migrations of the state database.
#pragma once

#include "store/database.hpp"

namespace mto {

// The schema version this build writes.
int latestSchemaVersion();

// Brings the database up to latestSchemaVersion(), each step in its own transaction.
// Throws mto::Error when the file was written by a newer agent.
void migrate(Database& db);
// Up to `target` only (an older schema, for tests of the steps after it).
void migrateTo(Database& db, int target);

// The version recorded in the file (PRAGMA user_version).
int schemaVersion(Database& db);

} // namespace mto
