// SPDX-License-Identifier: Apache-2.0
// Parses and validates untrusted order and command payloads from HQ.
#include "intake/order_parser.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <set>

#include "util/clock.hpp"
#include "store/event_json.hpp"
#include "util/sha256.hpp"
#include "util/utf8.hpp"

namespace mto {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxReported = 100;
// Topic names of events that are not about one order: input without a usable order id, and the floor's machines.
bool isReservedOrderId(std::string_view id) { return id == "_invalid" || id == "_floor"; }

double readDouble(std::string_view text) {
    boost::system::error_code ec;
    json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
    return ec ? std::numeric_limits<double>::quiet_NaN() : v.to_number<double>();
}

// A double equal to how Boost.JSON reads its own serialization of it, or nothing. Boost.JSON (1.81) reads
// long decimals with rounding error, so the text written for d may be read back as a neighbour of d;
// following that a few steps almost always ends at a value that reads back as itself.
std::optional<double> stableDouble(double d) {
    for (int step = 0; step < 8; ++step) {
        const double back = readDouble(json::serialize(json::value(d)));
        if (back == d) return d;
        if (!std::isfinite(back)) return std::nullopt;
        d = back;
    }
    return std::nullopt;
}

// The stored text of a double: what Boost.JSON writes (so orders stored before keep their hash), for a
// value that the parser reads back exactly. Stored orders are parsed again by the compiler and after a
// restart, and a re-send must hash the same, so the text must read back to itself. For the rare value
// that never settles, fewer digits are tried until one does; such a number was already read inexactly.
std::string canonicalDouble(double d) {
    if (auto stable = stableDouble(d)) return json::serialize(json::value(*stable));
    for (int digits = 16; digits >= 6; --digits) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.*g", digits, d);
        if (auto stable = stableDouble(readDouble(buf))) return json::serialize(json::value(*stable));
    }
    return json::serialize(json::value(d));
}

// Keys sorted at every level, so the same content always gives the same text and hash. Strings and
// integers are written as boost::json::serialize writes them (appendJsonScalar), so hashes of orders
// stored before stay what they were.
void writeCanonical(const json::value& v, std::string& out) {
    if (const auto* obj = v.if_object()) {
        // Orders have small objects; a fixed array spares an allocation per object on the intake path.
        using Field = std::pair<std::string_view, const json::value*>;
        constexpr std::size_t kInline = 16;
        std::array<Field, kInline> inlineFields;
        std::vector<Field> heapFields;
        Field* fields = inlineFields.data();
        if (obj->size() > kInline) {
            heapFields.resize(obj->size());
            fields = heapFields.data();
        }
        std::size_t n = 0;
        for (const auto& kv : *obj) fields[n++] = {kv.key(), &kv.value()};
        std::sort(fields, fields + n, [](const Field& a, const Field& b) { return a.first < b.first; });
        out.push_back('{');
        for (std::size_t i = 0; i < n; ++i) {
            if (i) out.push_back(',');
            appendJsonString(out, fields[i].first);
            out.push_back(':');
            writeCanonical(*fields[i].second, out);
        }
        out.push_back('}');
    } else if (const auto* arr = v.if_array()) {
        out.push_back('[');
        for (std::size_t i = 0; i < arr->size(); ++i) {
            if (i) out.push_back(',');
            writeCanonical((*arr)[i], out);
        }
        out.push_back(']');
    } else if (v.is_double()) {
        out += canonicalDouble(v.get_double());
    } else {
        appendJsonScalar(out, v);
    }
}

std::string canonical(const json::value& v) {
    std::string out;
    writeCanonical(v, out);
    return out;
}

// Collects problems with their JSON paths.
class Checker {
public:
    explicit Checker(std::vector<Rejection>& out) : out_(out) {}

    void add(std::string reason, std::string path, std::string message) {
        if (out_.size() < kMaxReported) out_.push_back({std::move(reason), std::move(path), std::move(message)});
    }

    // The string at key, or nullptr after recording why not.
    const json::string* string(const json::object& o, std::string_view key, const std::string& path, bool required) {
        const json::value* v = o.if_contains(key);
        if (!v) {
            if (required) add("missing_field", path, "required field is missing");
            return nullptr;
        }
        if (!v->is_string()) {
            add("wrong_type", path, "must be a string");
            return nullptr;
        }
        return &v->get_string();
    }

    void id(const json::object& o, std::string_view key, const std::string& path, std::string& out) {
        if (const auto* s = string(o, key, path, true)) {
            if (!OrderParser::isValidId(*s))
                add("invalid_id", path, "must be 1..64 characters of A-Z a-z 0-9 . _ : -");
            else
                out.assign(s->begin(), s->end());
        }
    }

    // Like id(), and `_invalid` and `_floor` are refused too: they are the topics of events about input with no
    // usable order id and about machines.
    void orderId(const json::object& o, const std::string& path, std::string& out) {
        id(o, "order_id", path, out);
        if (isReservedOrderId(out)) {
            add("invalid_id", path, "\"" + out + "\" is reserved for events that are not about one order");
            out.clear();
        }
    }

    // An integer value, or nullopt after recording why not. Floats with no fraction are refused too.
    // Integers beyond int64 get `tooLarge`, the reason the field uses for any value out of its range, so a
    // huge qty reads as a bad quantity whatever its magnitude (the parser holds those as uint64 or double).
    std::optional<std::int64_t> integer(const json::value& v, const std::string& path, const char* tooLarge,
                                        const std::string& rangeMessage) {
        if (v.is_int64()) return v.get_int64();
        if (v.is_uint64() || (v.is_double() && std::abs(v.get_double()) >= 0x1p63 &&
                              std::trunc(v.get_double()) == v.get_double())) {
            add(tooLarge, path, rangeMessage);
            return std::nullopt;
        }
        add("wrong_type", path, "must be an integer");
        return std::nullopt;
    }

private:
    std::vector<Rejection>& out_;
};

bool hasControlCharacters(std::string_view s) {
    for (unsigned char c : s)
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) return true;
    return false;
}

// Result of the first stage shared by orders and commands.
struct Document {
    // Made on the caller's storage: a json::value moved in from other storage would be copied.
    explicit Document(json::storage_ptr storage) : value(std::move(storage)) {}
    json::value value;
    std::vector<Rejection> problems;
};

// Boost.JSON reads a literal like 1e400 as infinity, which has no JSON spelling: stored, it could never be
// read back. Every number of the document is checked, unknown keys included, since all of it is stored.
void findNonFiniteNumbers(const json::value& v, const std::string& path, std::vector<Rejection>& out) {
    if (out.size() >= kMaxReported) return;
    if (const auto* obj = v.if_object()) {
        for (const auto& kv : *obj)
            findNonFiniteNumbers(kv.value(), path.empty() ? std::string(kv.key()) : path + "." + std::string(kv.key()),
                                 out);
    } else if (const auto* arr = v.if_array()) {
        for (std::size_t i = 0; i < arr->size(); ++i)
            findNonFiniteNumbers((*arr)[i], path + "[" + std::to_string(i) + "]", out);
    } else if (v.is_double() && !std::isfinite(v.get_double())) {
        out.push_back({"number_out_of_range", path, "the number is beyond the range of a 64-bit float"});
    }
}

// The value of the first `"key": "..."` in the first few KiB, for payloads that cannot be parsed as a
// whole (too large, too deep, broken): the rejection then reaches HQ under the right order id, so HQ
// stops re-sending. Only a plain string without escapes counts; anything else reads as absent.
std::string scanStringField(std::string_view payload, std::string_view key) {
    constexpr std::size_t kScanBytes = 4096;
    const std::string_view head = payload.substr(0, std::min(payload.size(), kScanBytes));
    const std::string quoted = "\"" + std::string(key) + "\"";
    for (std::size_t at = head.find(quoted); at != std::string_view::npos; at = head.find(quoted, at + 1)) {
        std::size_t i = at + quoted.size();
        auto skipSpace = [&] {
            while (i < head.size() && (head[i] == ' ' || head[i] == '\t' || head[i] == '\n' || head[i] == '\r')) ++i;
        };
        skipSpace();
        if (i >= head.size() || head[i] != ':') continue;
        ++i;
        skipSpace();
        if (i >= head.size() || head[i] != '"') continue;
        const std::size_t start = ++i;
        const std::size_t end = head.find('"', start);
        if (end == std::string_view::npos) return {};
        return std::string(head.substr(start, end - start));
    }
    return {};
}

PayloadProbe scanProbe(std::string_view payload) {
    PayloadProbe p;
    if (auto id = scanStringField(payload, "order_id"); OrderParser::isValidId(id) && !isReservedOrderId(id))
        p.orderId = std::move(id);
    if (auto c = scanStringField(payload, "command"); c.size() <= 32 && OrderParser::isValidId(c)) p.command = std::move(c);
    if (auto id = scanStringField(payload, "command_id"); OrderParser::isValidId(id)) p.commandId = std::move(id);
    return p;
}

// `storage` holds the parsed tree; it must outlive the returned document.
Document parseDocument(std::string_view payload, const ParseLimits& limits, json::storage_ptr storage) {
    Document doc(storage);
    if (payload.size() > limits.maxPayloadBytes) {
        doc.problems.push_back({"payload_too_large", "",
                                "payload is " + std::to_string(payload.size()) + " bytes; the limit is " +
                                    std::to_string(limits.maxPayloadBytes)});
        return doc;
    }
    if (auto bad = findInvalidUtf8(payload); bad != std::string_view::npos) {
        doc.problems.push_back({"invalid_utf8", "", "byte " + std::to_string(bad) + " is not valid UTF-8"});
        return doc;
    }
    json::parse_options opts;
    opts.max_depth = limits.maxDepth;
    std::error_code ec;
    json::value v = json::parse(json::string_view(payload.data(), payload.size()), ec, std::move(storage), opts);
    if (ec == json::error::too_deep) {
        doc.problems.push_back({"too_deep", "", "nesting deeper than " + std::to_string(limits.maxDepth) + " levels"});
        return doc;
    }
    if (ec) {
        doc.problems.push_back({"invalid_json", "", "not valid JSON: " + ec.message()});
        return doc;
    }
    if (!v.is_object()) {
        doc.problems.push_back({"not_an_object", "", "the payload must be a JSON object"});
        return doc;
    }
    findNonFiniteNumbers(v, "", doc.problems);
    doc.value = std::move(v);
    return doc;
}

PayloadProbe probeOf(const json::object& o) {
    PayloadProbe p;
    auto str = [&](const json::object& obj, std::string_view key, std::string& out) {
        if (const auto* v = obj.if_contains(key); v && v->is_string() && OrderParser::isValidId(v->get_string()) &&
                                                  !(key == "order_id" && isReservedOrderId(v->get_string())))
            out.assign(v->get_string().begin(), v->get_string().end());
    };
    const json::object* order = &o;
    if (const auto* inner = o.if_contains("order"); inner && inner->is_object()) order = &inner->get_object();
    str(*order, "order_id", p.orderId);
    if (p.orderId.empty()) str(o, "order_id", p.orderId);
    if (const auto* r = order->if_contains("revision"); r && r->is_int64()) p.revision = r->get_int64();
    if (const auto* c = o.if_contains("command"); c && c->is_string() && c->get_string().size() <= 32 &&
                                                 OrderParser::isValidId(c->get_string()))
        p.command.assign(c->get_string().begin(), c->get_string().end());
    str(o, "command_id", p.commandId);
    return p;
}

void checkPersonalization(Checker& check, const json::value& v, const std::string& path, const ParseLimits& limits,
                          std::string& out) {
    if (!v.is_object()) {
        check.add("wrong_type", path, "must be an object");
        return;
    }
    for (const auto& kv : v.get_object()) {
        std::string fieldPath = path + "." + std::string(kv.key());
        if (kv.key().empty() || kv.key().size() > 64 || hasControlCharacters(kv.key())) {
            check.add("invalid_value", fieldPath, "parameter names must be 1..64 printable characters");
            continue;
        }
        const json::value& val = kv.value();
        if (val.is_string()) {
            const auto& s = val.get_string();
            if (s.size() > limits.maxTextBytes)
                check.add("text_too_long", fieldPath, "longer than " + std::to_string(limits.maxTextBytes) + " bytes");
            else if (hasControlCharacters(s))
                check.add("invalid_text", fieldPath, "contains control characters");
        } else if (!(val.is_number() || val.is_bool())) {
            check.add("wrong_type", fieldPath, "must be a string, number or boolean");
        }
    }
    out = canonical(v);
}

// Decodes UTF-8 already known to be well formed.
std::vector<char32_t> codePoints(std::string_view s) {
    std::vector<char32_t> out;
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        int len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
        for (int k = 1; k < len && i + static_cast<std::size_t>(k) < s.size(); ++k)
            cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]) & 0x3F);
        out.push_back(cp);
        i += static_cast<std::size_t>(len);
    }
    return out;
}

bool inCharset(char32_t c, const std::string& charset) {
    if (charset == "any") return true;
    if (charset == "digits") return c >= '0' && c <= '9';
    bool ascii = (c >= 0x20 && c <= 0x7E) || c == '\n';
    if (charset == "ascii_printable") return ascii;
    // latin: printable ASCII plus the accented letters of Latin-1 (not its symbols).
    return ascii || (c >= 0xC0 && c <= 0xFF && c != 0xD7 && c != 0xF7);
}

std::string formatNumber(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

// Checks one item's personalization against its SKU's parameter schema.
void checkAgainstSchema(Checker& check, const CatalogEntry& entry, const json::value* personalization,
                        const std::string& path) {
    static const json::object empty;
    const json::object& given =
        personalization && personalization->is_object() ? personalization->get_object() : empty;
    for (const auto& kv : given)
        if (!entry.params.count(std::string(kv.key())))
            check.add("unknown_parameter", path + "." + std::string(kv.key()),
                      "SKU " + entry.sku + " takes no parameter of this name");
    for (const auto& [name, spec] : entry.params) {
        const std::string at = path + "." + name;
        const json::value* v = given.if_contains(name);
        if (!v) {
            if (spec.required) check.add("missing_parameter", at, "SKU " + entry.sku + " needs this parameter");
            continue;
        }
        using T = ParamSpec::Type;
        switch (spec.type) {
        case T::String: {
            if (!v->is_string()) {
                check.add("invalid_parameter", at, "must be a string");
                break;
            }
            auto cps = codePoints(v->get_string());
            if (spec.required && cps.empty()) check.add("missing_parameter", at, "must not be empty");
            if (spec.maxLength && cps.size() > spec.maxLength)
                check.add("too_long", at, "at most " + std::to_string(spec.maxLength) + " characters");
            for (std::size_t i = 0; i < cps.size(); ++i)
                if (!inCharset(cps[i], spec.charset)) {
                    check.add("invalid_characters", at,
                              "character " + std::to_string(i + 1) + " is outside the allowed set (" + spec.charset +
                                  ")");
                    break;
                }
            break;
        }
        case T::Integer:
        case T::Number: {
            bool integral = v->is_int64() || v->is_uint64();
            if (!(integral || (spec.type == T::Number && v->is_double()))) {
                check.add("invalid_parameter", at, spec.type == T::Integer ? "must be an integer" : "must be a number");
                break;
            }
            double d = v->to_number<double>();
            if ((spec.min && d < *spec.min) || (spec.max && d > *spec.max))
                check.add("out_of_range", at,
                          "must be between " + (spec.min ? formatNumber(*spec.min) : std::string("-inf")) + " and " +
                              (spec.max ? formatNumber(*spec.max) : std::string("inf")));
            break;
        }
        case T::Boolean:
            if (!v->is_bool()) check.add("invalid_parameter", at, "must be true or false");
            break;
        case T::Enum:
            if (!v->is_string() ||
                std::find(spec.values.begin(), spec.values.end(), std::string(v->get_string())) == spec.values.end()) {
                std::string list;
                for (const auto& value : spec.values) list += (list.empty() ? "" : ", ") + value;
                check.add("not_allowed", at, "must be one of " + list);
            }
            break;
        }
    }
}

std::optional<Order> validateOrder(const json::object& o, const std::string& prefix, const Catalog& catalog,
                                   const ParseLimits& limits, std::vector<Rejection>& problems) {
    Checker check(problems);
    Order order;
    check.orderId(o, prefix + "order_id", order.orderId);

    if (const auto* r = o.if_contains("revision")) {
        if (auto rev = check.integer(*r, prefix + "revision", "invalid_value", "must be 1 or more and fit 64 bits")) {
            if (*rev < 1)
                check.add("invalid_value", prefix + "revision", "must be 1 or more");
            else
                order.revision = *rev;
        }
    }
    if (const auto* p = check.string(o, "priority", prefix + "priority", false)) {
        if (*p == "rush")
            order.priority = Priority::Rush;
        else if (*p != "standard")
            check.add("invalid_value", prefix + "priority", "must be \"standard\" or \"rush\"");
    }
    if (const auto* d = check.string(o, "due_by", prefix + "due_by", false)) {
        std::string due(d->begin(), d->end());
        if (!isRfc3339(due))
            check.add("invalid_value", prefix + "due_by", "must be an RFC 3339 date-time like 2026-12-01T12:00:00Z");
        else
            order.dueBy = due;
    }

    const json::value* items = o.if_contains("items");
    std::string itemsPath = prefix + "items";
    if (!items) {
        check.add("missing_field", itemsPath, "required field is missing");
    } else if (!items->is_array()) {
        check.add("wrong_type", itemsPath, "must be an array");
    } else if (items->get_array().empty()) {
        check.add("invalid_value", itemsPath, "an order needs at least one item");
    } else if (items->get_array().size() > limits.maxItems) {
        check.add("too_many_items", itemsPath,
                  std::to_string(items->get_array().size()) + " items; the limit is " + std::to_string(limits.maxItems));
    } else {
        std::set<std::string> seen;
        const auto& arr = items->get_array();
        for (std::size_t i = 0; i < arr.size(); ++i) {
            std::string path = itemsPath + "[" + std::to_string(i) + "]";
            if (!arr[i].is_object()) {
                check.add("wrong_type", path, "each item must be an object");
                continue;
            }
            const auto& io = arr[i].get_object();
            Item item;
            check.id(io, "item_id", path + ".item_id", item.itemId);
            if (!item.itemId.empty() && !seen.insert(item.itemId).second)
                check.add("duplicate_item_id", path + ".item_id", "item_id repeats an earlier item of this order");
            if (const auto* sku = check.string(io, "sku", path + ".sku", true)) {
                item.sku.assign(sku->begin(), sku->end());
                if (item.sku.empty())
                    check.add("invalid_value", path + ".sku", "must not be empty");
                else if (!catalog.contains(item.sku))
                    check.add("unknown_sku", path + ".sku", "this factory's catalog has no such SKU");

            }
            if (const auto* q = io.if_contains("qty")) {
                const std::string qtyRange = "must be between 1 and " + std::to_string(limits.maxQty);
                if (auto qty = check.integer(*q, path + ".qty", "invalid_quantity", qtyRange)) {
                    if (*qty < 1 || *qty > limits.maxQty)
                        check.add("invalid_quantity", path + ".qty", qtyRange);
                    else
                        item.qty = *qty;
                }
            } else {
                check.add("missing_field", path + ".qty", "required field is missing");
            }
            if (const auto* pers = io.if_contains("personalization"))
                checkPersonalization(check, *pers, path + ".personalization", limits, item.personalizationJson);
            else
                item.personalizationJson = "{}";
            // Against the SKU's schema last, so the item's own basic faults come first in the report.
            if (const CatalogEntry* entry = catalog.find(item.sku); entry && entry->hasSchema())
                checkAgainstSchema(check, *entry, io.if_contains("personalization"), path + ".personalization");
            order.items.push_back(std::move(item));
        }
    }
    if (!problems.empty()) return std::nullopt;
    order.canonicalJson = canonical(o);
    order.contentHash = sha256Hex(order.canonicalJson);
    return order;
}

} // namespace

bool OrderParser::isValidId(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == ':' || c == '-';
    });
}

std::variant<Order, Rejections> OrderParser::parseOrder(std::string_view payload, const Catalog& catalog) const {
    // The parsed tree lives only while the order is checked and copied out: a monotonic arena (a stack
    // block first) replaces one heap allocation per JSON node and object table with almost none.
    alignas(std::max_align_t) unsigned char block[4096];
    json::monotonic_resource arena(block, sizeof block);
    Document doc = parseDocument(payload, limits_, &arena);
    Rejections rej;
    if (!doc.problems.empty()) {
        rej.list = std::move(doc.problems);
        rej.probe = doc.value.is_object() ? probeOf(doc.value.get_object()) : scanProbe(payload);
        return rej;
    }
    const auto& obj = doc.value.get_object();
    if (auto order = validateOrder(obj, "", catalog, limits_, rej.list)) return std::move(*order);
    rej.probe = probeOf(obj);
    return rej;
}

std::variant<Command, Rejections> OrderParser::parseCommand(std::string_view payload, const Catalog& catalog) const {
    alignas(std::max_align_t) unsigned char block[4096];
    json::monotonic_resource arena(block, sizeof block);
    Document doc = parseDocument(payload, limits_, &arena);
    Rejections rej;
    if (!doc.problems.empty()) {
        rej.list = std::move(doc.problems);
        rej.probe = doc.value.is_object() ? probeOf(doc.value.get_object()) : scanProbe(payload);
        return rej;
    }
    const auto& obj = doc.value.get_object();
    rej.probe = probeOf(obj);
    Checker check(rej.list);
    Command cmd;
    check.id(obj, "command_id", "command_id", cmd.commandId);
    const auto* name = check.string(obj, "command", "command", true);
    if (!name) return rej;
    if (*name == "cancel")
        cmd.kind = CommandKind::Cancel;
    else if (*name == "hold")
        cmd.kind = CommandKind::Hold;
    else if (*name == "resume")
        cmd.kind = CommandKind::Resume;
    else if (*name == "change")
        cmd.kind = CommandKind::Change;
    else if (*name == "resync")
        cmd.kind = CommandKind::Resync;
    else {
        check.add("unknown_command", "command", "known commands: cancel, hold, resume, change, resync");
        return rej;
    }

    if (const auto* reason = check.string(obj, "reason", "reason", false)) {
        if (reason->size() > limits_.maxTextBytes || hasControlCharacters(*reason))
            check.add("invalid_text", "reason", "must be printable text of at most " +
                                                    std::to_string(limits_.maxTextBytes) + " bytes");
        else
            cmd.reason.assign(reason->begin(), reason->end());
    }

    switch (cmd.kind) {
    case CommandKind::Cancel:
    case CommandKind::Hold:
    case CommandKind::Resume:
        check.orderId(obj, "order_id", cmd.orderId);
        break;
    case CommandKind::Resync:
        if (obj.contains("order_id")) check.orderId(obj, "order_id", cmd.orderId);
        break;
    case CommandKind::Change: {
        const json::value* inner = obj.if_contains("order");
        if (!inner)
            check.add("missing_field", "order", "a change carries the new revision of the order");
        else if (!inner->is_object())
            check.add("wrong_type", "order", "must be an object");
        else if (auto order = validateOrder(inner->get_object(), "order.", catalog, limits_, rej.list)) {
            cmd.orderId = order->orderId;
            cmd.order = std::move(*order);
        }
        break;
    }
    }
    if (!rej.list.empty()) return rej;
    return cmd;
}


} // namespace mto
