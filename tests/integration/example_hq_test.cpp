// SPDX-License-Identifier: Apache-2.0
// The example HQ client that HQ engineers copy runs against the real agent and gets every receipt.
#include <gtest/gtest.h>

#include <filesystem>

#include "agent_rig.hpp"
#include "compiler/compile_queue.hpp"
#include "test_env.hpp"

namespace mto::test {
namespace {

TEST(ExampleHqClient, SendsTheSampleOrdersAndGetsEveryReceipt) {
    // HQ here is the example client itself.
    AgentRig rig({.agent = {.factory = "demo-factory", .compile = true}, .connectHq = false});
    AgentProcess& agent = rig.agent();

    std::vector<std::string> argv{"/usr/bin/python3", sourceDir() + "/docs/examples/hq_client.py", "--port",
                                  std::to_string(rig.broker().port()), "--factory", "demo-factory", "--client-id",
                                  "hq-example-test", "--exit-when-done", "--wait-for-jobs", "--timeout", "120"};
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(sourceDir() + "/docs/examples/orders"))
        if (entry.path().extension() == ".json") files.push_back(entry.path().string());
    std::sort(files.begin(), files.end());
    ASSERT_GE(files.size(), 6u);
    argv.insert(argv.end(), files.begin(), files.end());

    std::string out;
    ASSERT_EQ(runCommand(argv, out), 0) << out << "\n" << agent.log();
    EXPECT_NE(out.find("have their receipt"), std::string::npos) << out;
    EXPECT_NE(out.find("reason=invalid_quantity"), std::string::npos) << out;
    EXPECT_NE(out.find("items=200"), std::string::npos) << out;
    EXPECT_NE(out.find("on_hold"), std::string::npos) << out;
    EXPECT_NE(out.find("cancelled"), std::string::npos) << out;
    EXPECT_EQ(out.find("gap"), std::string::npos) << out;
    // Every stored order settled: the coaster, sign, keychain + clips, bulk tags and heart coaster compiled,
    // the snowman refused at compile, the coaster to cancel cancelled.
    EXPECT_NE(out.find("all 7 stored order(s) settled"), std::string::npos) << out;
    for (const char* id : {"ORD-1001", "ORD-1002", "ORD-1003", "ORD-1004", "ORD-1006"})
        EXPECT_NE(out.find(std::string(id) + "   -    accepted"), std::string::npos) << id << "\n" << out;
    EXPECT_NE(out.find("ORD-1007   -    rejected      reason=missing_glyph"), std::string::npos) << out;
    EXPECT_NE(out.find("ORD-1008   -    cancelled"), std::string::npos) << out;
    EXPECT_NE(out.find("operations=[\"cnc_engrave\",\"cnc_profile\"]"), std::string::npos) << out;

    std::string orders;
    ASSERT_EQ(rig.mtoctl({"orders"}, orders), 0);
    EXPECT_NE(orders.find("7 order(s)"), std::string::npos) << orders;
    agent.stop();
}

TEST(ExampleHqClient, PutsImagesTogetherFromTheirPartsAndStoresOnlyThoseMatchingTheirHash) {
    // The example's media code on its own: paho is replaced by an empty module (no broker is involved).
    TempDir dir;
    std::filesystem::create_directories(dir.path() / "stub/paho/mqtt");
    writeFileDurably(dir.path() / "stub/paho/__init__.py", "");
    writeFileDurably(dir.path() / "stub/paho/mqtt/__init__.py", "");
    writeFileDurably(dir.path() / "stub/paho/mqtt/client.py", "CONNACK_ACCEPTED = 0\nclass Client:\n"
                                                              "    def __init__(self, **kw): pass\n"
                                                              "    def username_pw_set(self, *a): pass\n"
                                                              "    def reconnect_delay_set(self, **kw): pass\n");
    writeFileDurably(dir.path() / "check.py", R"(import hashlib, importlib.util, os, random, sys, types
spec = importlib.util.spec_from_file_location("hq_client", sys.argv[1])
hq = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hq)
warnings = []
out = types.SimpleNamespace(warn=warnings.append, info=lambda t: None)
args = types.SimpleNamespace(factory="f1", client_id="hq", username=None, password=None, media_dir=sys.argv[2])
r = hq.MediaReceiver(args, out)
big = random.Random(5).randbytes(200 * 1024)
sha = hashlib.sha256(big).hexdigest()
parts = [big[i:i + hq.MEDIA_PART_BYTES] for i in range(0, len(big), hq.MEDIA_PART_BYTES)]
assert len(parts) == 4
topic = lambda i: f"mto/v1/f1/media/{sha}/{i}/4"
assert r.take(topic(3), parts[3]) is None
assert r.take(topic(0), parts[0]) is None
assert r.take(topic(0), parts[0]) is None
assert r.take(topic(1), parts[1]) is None
path = r.take(topic(2), parts[2])
assert path == os.path.join(sys.argv[2], sha), path
assert open(path, "rb").read() == big
small = b"thumbnail"
path = r.take("mto/v1/f1/media/" + hashlib.sha256(small).hexdigest(), small)
assert open(path, "rb").read() == small
assert r.take("mto/v1/f1/media/" + "0" * 64, small) is None
assert any("do not match their hash" in w for w in warnings), warnings
assert r.take(f"mto/v1/f1/media/{sha}/4/4", b"x") is None
assert any("part 4 of 4" in w for w in warnings), warnings
assert r.stored == 2 and r.assembler.partial == {}, (r.stored, r.assembler.partial)
print("media ok")
)");
    std::string out;
    ASSERT_EQ(runCommand({"/usr/bin/env", "PYTHONPATH=" + (dir.path() / "stub").string(), "/usr/bin/python3",
                          (dir.path() / "check.py").string(), sourceDir() + "/docs/examples/hq_client.py",
                          (dir.path() / "media").string()},
                         out),
              0)
        << out;
    EXPECT_NE(out.find("media ok"), std::string::npos) << out;
}

} // namespace
} // namespace mto::test
