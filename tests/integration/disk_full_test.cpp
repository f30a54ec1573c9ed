// SPDX-License-Identifier: Apache-2.0
// The state directory fills up: no receipt for what could not be stored, status degraded, full recovery after.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <fstream>
#include <thread>

#include "agent_rig.hpp"
#include "store/database.hpp"
#include "hq_client.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

// A small tmpfs as the agent's state directory (needs root, as in CI).
class SmallDisk {
public:
    explicit SmallDisk(const std::filesystem::path& where) : path_(where) {
        std::filesystem::create_directories(path_);
        mounted_ = ::mount("tmpfs", path_.c_str(), "tmpfs", 0, "size=32m") == 0;
        error_ = mounted_ ? 0 : errno;
    }
    ~SmallDisk() {
        if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
    }
    bool mounted() const { return mounted_; }
    int error() const { return error_; }

    // Writes a filler file until the filesystem refuses more.
    void fill() {
        std::ofstream out(path_ / "filler", std::ios::binary);
        std::string block(4096, 'f');
        while (out.write(block.data(), static_cast<std::streamsize>(block.size())) && out.flush()) {
        }
    }
    void release() { std::filesystem::remove(path_ / "filler"); }

private:
    std::filesystem::path path_;
    bool mounted_ = false;
    int error_ = 0;
};

std::set<std::string> storedOrders(const std::filesystem::path& db) {
    Database d(db, Database::Mode::ReadOnly);
    std::set<std::string> ids;
    auto& st = d.prepare("SELECT order_id FROM orders");
    while (st.step()) ids.insert(st.columnText(0));
    st.reset();
    return ids;
}

TEST(DiskFull, NoReceiptWithoutStorageAndEverythingRecoversWhenSpaceReturns) {
    AgentRig rig({.startAgent = false, .connectHq = false});
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();
    SmallDisk disk(agent.stateDir());
    if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << std::strerror(disk.error());
    agent.start();
    hq.connect();
    rig.waitForOnline();

    for (int i = 0; i < 20; ++i) hq.sendOrder("OK-" + std::to_string(i), makeOrder("OK-" + std::to_string(i)));
    ASSERT_TRUE(waitUntil([&] { return hq.receiptCount() == 20; }, std::chrono::seconds(20)));

    disk.fill();
    // Large orders, so the write-ahead log has to grow into space that is not there.
    const std::string longText(60, 'W');
    constexpr int kWhileFull = 30;
    for (int i = 0; i < kWhileFull; ++i) {
        std::string id = "FULL-" + std::to_string(i);
        hq.sendOrder(id, makeOrder(id, 200, 1, longText));
    }
    ASSERT_TRUE(waitUntil([&] { return hq.lastStatus().find("\"degraded\"") != std::string::npos; },
                          std::chrono::seconds(20)))
        << hq.lastStatus() << "\n" << agent.log();
    EXPECT_NE(hq.lastStatus().find("\"degraded_reason\":\"disk_full\""), std::string::npos) << hq.lastStatus();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    ASSERT_TRUE(agent.running()) << agent.log();
    auto missing = hq.missingReceipts();
    EXPECT_GT(missing.size(), 0u) << "the disk never ran full";

    // Every receipt HQ holds is backed by a stored order.
    auto stored = storedOrders(agent.databasePath());
    for (int i = 0; i < kWhileFull; ++i) {
        std::string id = "FULL-" + std::to_string(i);
        if (hq.hasReceipt(id)) {
            EXPECT_TRUE(stored.count(id)) << id << " has a receipt but is not stored";
        }
    }

    disk.release();
    bool complete = waitUntil(
        [&] {
            if (hq.receiptCount() == 20 + kWhileFull) return true;
            hq.resendMissing();
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
            return hq.receiptCount() == 20 + kWhileFull;
        },
        std::chrono::seconds(60));
    ASSERT_TRUE(complete) << hq.missingReceipts().size() << " still missing\n" << agent.log();
    EXPECT_EQ(storedOrders(agent.databasePath()).size(), 20u + kWhileFull);
    ASSERT_TRUE(waitUntil([&] { return hq.lastStatus().find("\"online\"") != std::string::npos; },
                          std::chrono::seconds(20)))
        << hq.lastStatus();
    agent.stop();
    EXPECT_NE(agent.log().find("disk_full"), std::string::npos);
    EXPECT_NE(agent.log().find("storage healthy again"), std::string::npos);
}

TEST(DiskFull, OrdersFromAClientThatNeverResendsAreRedeliveredByTheBrokerOnceSpaceReturns) {
    // No HQ re-send here: only the broker's persistent session can bring back an order the agent
    // could not store, and only if the agent never acknowledged it.
    AgentRig rig({.hqClientId = "plain-publisher", .startAgent = false, .connectHq = false});
    AgentProcess& agent = rig.agent();
    HqClient& hq = rig.hq();
    SmallDisk disk(agent.stateDir());
    if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << std::strerror(disk.error());
    agent.start();
    hq.connect();
    rig.waitForOnline();

    disk.fill();
    const std::string longText(60, 'W');
    constexpr int kOrders = 20;
    std::vector<std::string> ids;
    for (int i = 0; i < kOrders; ++i) {
        ids.push_back("ONCE-" + std::to_string(i));
        hq.publishRaw(hq.ordersTopic(), makeOrder(ids.back(), 200, 1, longText));   // published once, never again
    }
    ASSERT_TRUE(waitUntil([&] { return agent.log().find("degraded (disk_full)") != std::string::npos; },
                          std::chrono::seconds(20)))
        << agent.log();
    std::this_thread::sleep_for(std::chrono::seconds(2));
    ASSERT_TRUE(agent.running()) << agent.log();
    EXPECT_LT(storedOrders(agent.databasePath()).size(), std::size_t(kOrders)) << "the disk never ran full";

    disk.release();
    ASSERT_TRUE(waitUntil([&] { return storedOrders(agent.databasePath()).size() == std::size_t(kOrders); },
                          std::chrono::seconds(60)))
        << storedOrders(agent.databasePath()).size() << " of " << kOrders << " stored\n" << agent.log();
    auto receipts = [&] { return hq.receiptsFor(ids); };
    ASSERT_TRUE(waitUntil([&] { return receipts() == std::size_t(kOrders); }, std::chrono::seconds(30))) << receipts();
    agent.stop();
}

} // namespace
} // namespace mto::test
