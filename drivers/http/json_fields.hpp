// SPDX-License-Identifier: Apache-2.0
// Reading the fields of a print host's JSON answers, where a missing or mistyped field reads as absent.
#pragma once

#include <boost/json/object.hpp>
#include <string>

namespace mto::http {

// The string at `key`, or "" when it is missing or not a string.
inline std::string jsonString(const boost::json::object& o, const char* key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// The number at `key` (any JSON number kind), or `fallback` when it is missing or not a number.
inline double jsonNumber(const boost::json::object& o, const char* key, double fallback) {
    const auto* v = o.if_contains(key);
    if (!v) return fallback;
    if (v->is_double()) return v->as_double();
    if (v->is_int64()) return static_cast<double>(v->as_int64());
    if (v->is_uint64()) return static_cast<double>(v->as_uint64());
    return fallback;
}

// The object at `key`, or null when it is missing or not an object.
inline const boost::json::object* jsonObject(const boost::json::object& o, const char* key) {
    const auto* v = o.if_contains(key);
    return v && v->is_object() ? &v->as_object() : nullptr;
}

} // namespace mto::http
