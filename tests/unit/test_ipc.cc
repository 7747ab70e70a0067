// IPC: the datagram codec (table of malformed inputs) and Channel over a real
// socketpair: malformed datagrams counted and skipped, peer close seen, a full
// socket queues instead of losing messages.
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "daemon/ipc.h"

// cmocka last: it defines macros (fail, ...) that clash with C++ headers.
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
// cmocka.h has no extern "C" of its own.
extern "C" {
#include <cmocka.h>
}

using namespace vigil::ipc;

namespace {

std::string raw(uint16_t type, uint16_t reserved, uint32_t length, std::string_view payload) {
    Header h{type, reserved, length};
    std::string d(reinterpret_cast<const char*>(&h), sizeof h);
    d += payload;
    return d;
}

void test_roundtrip(void**) {
    auto d = encode(MsgType::ConfigChunk, "vrrp_instance VI_1 {\n");
    assert_int_equal(d.size(), kHeaderSize + 21);
    auto m = decode(d, nullptr);
    assert_true(m.has_value());
    assert_int_equal(static_cast<int>(m->type), static_cast<int>(MsgType::ConfigChunk));
    assert_string_equal(m->payload.c_str(), "vrrp_instance VI_1 {\n");

    auto s = encode(MsgType::InstanceState, encode_instance_state("VI_1", 2, 100));
    m = decode(s, nullptr);
    assert_true(m.has_value());
    std::string name;
    uint8_t state = 0, prio = 0;
    assert_true(decode_instance_state(m->payload, &name, &state, &prio));
    assert_string_equal(name.c_str(), "VI_1");
    assert_int_equal(state, 2);
    assert_int_equal(prio, 100);

    m = decode(encode(MsgType::ChildReady, ""), nullptr);
    assert_true(m.has_value());
    assert_true(m->payload.empty());
}

void test_malformed_table(void**) {
    struct Case {
        const char* description;
        std::string datagram;
        const char* why_contains;
    };
    std::string big(kMaxPayload + 1, 'x');
    const Case cases[] = {
        {"empty", "", "shorter"},
        {"half a header", std::string(4, '\0'), "shorter"},
        {"length says more than sent", raw(100, 0, 10, "abc"), "length"},
        {"length says less than sent", raw(100, 0, 1, "abc"), "length"},
        {"reserved bits set", raw(100, 7, 3, "abc"), "reserved"},
        {"unknown type", raw(77, 0, 0, ""), "unknown"},
        {"payload on ChildReady", raw(1, 0, 1, "x"), "payload"},
        {"payload on ConfigCommit", raw(101, 0, 2, "xy"), "payload"},
        {"InstanceState too short", raw(2, 0, 3, "abc"), "short"},
        {"InstanceState name_len past the end", raw(2, 0, 6, std::string("\x02\x64\x09\x00VI", 6)), "name length"},
        {"InstanceState name_len short of the end", raw(2, 0, 7, std::string("\x02\x64\x01\x00VIX", 7)), "name length"},
        {"too large", raw(100, 0, static_cast<uint32_t>(big.size()), big), "larger"},
        {"Query too short", raw(102, 0, 4, "abcd"), "Query payload size"},
        {"Query too long", raw(102, 0, 9, "abcdefghi"), "Query payload size"},
        {"QueryReply without its header", raw(4, 0, 7, "abcdefg"), "QueryReply payload too short"},
    };
    for (const auto& c : cases) {
        const char* why = nullptr;
        auto m = decode(c.datagram, &why);
        if (m.has_value()) fail_msg("%s: accepted", c.description);
        if (!why || !strstr(why, c.why_contains)) fail_msg("%s: reason '%s'", c.description, why ? why : "(none)");
    }
}

void test_query_roundtrip(void**) {
    auto m = decode(encode(MsgType::Query, encode_query(42, QueryKind::Stats)), nullptr);
    assert_true(m.has_value());
    uint32_t id = 0;
    QueryKind kind{};
    assert_true(decode_query(m->payload, &id, &kind));
    assert_int_equal(id, 42);
    assert_int_equal(static_cast<int>(kind), static_cast<int>(QueryKind::Stats));
    // The size is right but the kind is not one we know.
    std::string unknown = encode_query(1, QueryKind::Stats);
    unknown[4] = 9;
    assert_false(decode_query(unknown, &id, &kind));

    m = decode(encode(MsgType::QueryReply, encode_query_reply(7, true, "check_checkers 2\n")), nullptr);
    assert_true(m.has_value());
    bool last = false;
    std::string text;
    assert_true(decode_query_reply(m->payload, &id, &last, &text));
    assert_int_equal(id, 7);
    assert_true(last);
    assert_string_equal(text.c_str(), "check_checkers 2\n");
    assert_true(decode_query_reply(encode_query_reply(8, false, ""), &id, &last, &text));
    assert_false(last);
    assert_true(text.empty());
}

void test_split_text(void**) {
    // At line ends where possible, every slice within the bound, nothing lost.
    auto parts = split_text("aaa\nbbb\nccc\n", 9);
    assert_int_equal(parts.size(), 2);
    assert_string_equal(std::string(parts[0]).c_str(), "aaa\nbbb\n");
    assert_string_equal(std::string(parts[1]).c_str(), "ccc\n");
    // A line longer than the bound is cut.
    parts = split_text("abcdefghij", 4);
    assert_int_equal(parts.size(), 3);
    assert_string_equal(std::string(parts[2]).c_str(), "ij");
    assert_true(split_text("", 10).empty());
}

void test_channel_counts_and_skips_malformed(void**) {
    auto pair = make_channel_pair();
    assert_true(pair.core_end >= 0);
    Channel rx(pair.core_end);
    int tx = pair.child_end;
    std::string bad1 = raw(77, 0, 0, "");
    std::string bad2 = "xyz";
    std::string good = encode(MsgType::ReloadDone, "boom");
    assert_int_equal(send(tx, bad1.data(), bad1.size(), 0), bad1.size());
    assert_int_equal(send(tx, bad2.data(), bad2.size(), 0), bad2.size());
    // An oversized datagram must be seen as oversized, not as a cut one.
    std::string huge = raw(100, 0, kMaxPayload + 100, std::string(kMaxPayload + 100, 'a'));
    int sndbuf = 1 << 20;
    setsockopt(tx, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    assert_int_equal(send(tx, huge.data(), huge.size(), 0), huge.size());
    assert_int_equal(send(tx, good.data(), good.size(), 0), good.size());

    auto m = rx.receive();
    assert_true(m.has_value());
    assert_int_equal(static_cast<int>(m->type), static_cast<int>(MsgType::ReloadDone));
    assert_string_equal(m->payload.c_str(), "boom");
    assert_int_equal(rx.malformed(), 3);
    assert_false(rx.receive().has_value());  // nothing pending
    assert_false(rx.closed());

    close(tx);
    assert_false(rx.receive().has_value());
    assert_true(rx.closed());
    assert_false(rx.send(MsgType::ChildReady));
}

void test_channel_rejects_oversized_send(void**) {
    auto pair = make_channel_pair();
    Channel a(pair.core_end);
    Channel b(pair.child_end);
    assert_false(a.send(MsgType::ConfigChunk, std::string(kMaxPayload + 1, 'x')));
    assert_true(a.send(MsgType::ConfigChunk, std::string(kMaxPayload, 'x')));
    auto m = b.receive();
    assert_true(m.has_value());
    assert_int_equal(m->payload.size(), kMaxPayload);
}

void test_channel_queues_when_full(void**) {
    auto pair = make_channel_pair();
    Channel a(pair.core_end);
    Channel b(pair.child_end);
    // Send until the socket is full; nothing may be lost or reordered.
    const std::string chunk(8192, 'c');
    int sent = 0;
    for (; sent < 10000 && !a.want_write(); ++sent) assert_true(a.send(MsgType::ConfigChunk, chunk + std::to_string(sent)));
    assert_true(a.want_write());
    for (int i = 0; i < 5; ++i, ++sent) assert_true(a.send(MsgType::ConfigChunk, chunk + std::to_string(sent)));
    int received = 0;
    for (int rounds = 0; rounds < 100000 && received < sent; ++rounds) {
        while (auto m = b.receive()) {
            assert_string_equal(m->payload.c_str() + chunk.size(), std::to_string(received).c_str());
            ++received;
        }
        a.flush();
    }
    assert_int_equal(received, sent);
    assert_false(a.want_write());
    assert_int_equal(b.malformed(), 0);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_malformed_table),
        cmocka_unit_test(test_query_roundtrip),
        cmocka_unit_test(test_split_text),
        cmocka_unit_test(test_channel_counts_and_skips_malformed),
        cmocka_unit_test(test_channel_rejects_oversized_send),
        cmocka_unit_test(test_channel_queues_when_full),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
