// SPDX-License-Identifier: Apache-2.0
// Fills a stopped agent's database with stored orders and their pending `received` events, without MQTT.
#include "outbox_filler.hpp"

#include <cstdio>
#include <variant>

#include "bench_support.hpp"
#include "catalog.hpp"
#include "util/clock.hpp"
#include "store/database.hpp"
#include "hq_client.hpp"
#include "store/migrations.hpp"
#include "intake/order_parser.hpp"
#include "store/order_store.hpp"
#include "test_env.hpp"

namespace mto::bench {

namespace {

constexpr int kOrdersPerTransaction = 1000;

std::string orderId(int i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "ord-%07d", i);
    return buf;
}

} // namespace

FillResult fillOutbox(const std::filesystem::path& databasePath, const std::string& factory, int count) {
    auto started = Clock::now();
    const Catalog catalog = Catalog::load(test::sourceDir() + "/config/catalog.toml");
    const OrderParser parser{ParseLimits{}};
    FillResult result;
    {
        Database db(databasePath, Database::Mode::ReadWrite);
        migrate(db);
        SystemClock clock;
        OrderStore store(db, factory, clock);
        for (int first = 1; first <= count; first += kOrdersPerTransaction) {
            throwIfInterrupted();
            Transaction txn(db);
            for (int i = first; i < first + kOrdersPerTransaction && i <= count; ++i) {
                std::string id = orderId(i);
                auto parsed = parser.parseOrder(test::makeOrder(id), catalog);
                const auto* order = std::get_if<Order>(&parsed);
                if (!order) throw BenchError("the parser refused benchmark order " + id);
                Rejection rejection;
                if (store.storeOrder(*order, "", rejection) != OrderOutcome::Stored)
                    throw BenchError("order " + id + " was not stored as new (is the database empty?)");
            }
            txn.commit();
        }
        auto& st = db.prepare("SELECT COUNT(*), TOTAL(LENGTH(payload)), TOTAL(LENGTH(topic)) FROM events "
                              "WHERE seq > (SELECT acked_seq FROM outbox_state WHERE id = 1)");
        st.step();
        result.events = st.columnInt(0);
        const double n = result.events > 0 ? static_cast<double>(result.events) : 1.0;
        result.averagePayloadBytes = static_cast<double>(st.columnInt(1)) / n;
        result.averageTopicBytes = static_cast<double>(st.columnInt(2)) / n;
        st.reset();
    }
    result.seconds = secondsBetween(started, Clock::now());
    if (result.events != count)
        throw BenchError("outbox holds " + std::to_string(result.events) + " pending events, expected " +
                         std::to_string(count));
    return result;
}

} // namespace mto::bench
