// HTTP url-block judgement, body digest, MISC_CHECK exit-code mapping.

#include <sys/wait.h>

#include <string>

#include "check/evaluate.h"

// cmocka last: its macros (fail, ...) clash with the C++ headers; its header
// declares C functions without extern "C".
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}

using namespace vigil;
using namespace vigil::check;

namespace {

// W_EXITCODE is glibc's; spelled out so the test says what it builds.
int exited(int code) { return (code & 0xff) << 8; }
int signalled(int sig) { return sig & 0x7f; }

HttpOutcome response(long status, const std::string& body) {
    HttpOutcome o;
    o.transfer_ok = true;
    o.status = status;
    BodyDigest d;
    d.update(body.data(), body.size());
    o.body_md5 = d.hex();
    return o;
}

void test_md5_matches_genhash(void**) {
    BodyDigest empty;
    assert_string_equal(empty.hex().c_str(), "d41d8cd98f00b204e9800998ecf8427e");
    BodyDigest d;
    // Fed in pieces, as a transfer delivers it.
    assert_true(d.update("hel", 3));
    assert_true(d.update("lo", 2));
    assert_string_equal(d.hex().c_str(), "5d41402abc4b2a76b9719d911017c592");
}

void test_digest_size_bound(void**) {
    BodyDigest d(8);
    assert_true(d.update("12345678", 8));
    assert_false(d.overflowed());
    assert_false(d.update("9", 1));
    assert_true(d.overflowed());
    assert_false(d.update("", 0));  // stays overflowed
    assert_int_equal(d.bytes(), 8);
}

void test_status_rules(void**) {
    config::HttpUrl any2xx{"/", std::nullopt, ""};
    assert_true(judge_http(any2xx, response(200, "x")).ok);
    assert_true(judge_http(any2xx, response(204, "")).ok);
    assert_false(judge_http(any2xx, response(301, "")).ok);
    assert_false(judge_http(any2xx, response(500, "")).ok);
    assert_false(judge_http(any2xx, response(199, "")).ok);

    config::HttpUrl want302{"/", 302, ""};
    assert_true(judge_http(want302, response(302, "")).ok);
    Judgement j = judge_http(want302, response(200, ""));
    assert_false(j.ok);
    assert_string_equal(j.reason.c_str(), "status 200, expected 302");
}

void test_digest_rules(void**) {
    config::HttpUrl url{"/index.html", 200, "5d41402abc4b2a76b9719d911017c592"};
    assert_true(judge_http(url, response(200, "hello")).ok);
    assert_false(judge_http(url, response(200, "hello!")).ok);
    assert_false(judge_http(url, response(500, "hello")).ok);  // both must hold
    config::HttpUrl upper{"/", std::nullopt, "5D41402ABC4B2A76B9719D911017C592"};
    assert_true(judge_http(upper, response(200, "hello")).ok);
}

void test_transfer_failures(void**) {
    config::HttpUrl url{"/", std::nullopt, ""};
    HttpOutcome timeout;
    timeout.error = "timeout";
    Judgement j = judge_http(url, timeout);
    assert_false(j.ok);
    assert_string_equal(j.reason.c_str(), "timeout");

    HttpOutcome no_status;  // garbage instead of a status line
    no_status.transfer_ok = true;
    assert_false(judge_http(url, no_status).ok);
}

void test_oversized_body(void**) {
    HttpOutcome big;
    big.transfer_ok = false;  // aborted by the write callback
    big.error = "write error";
    big.body_overflowed = true;
    big.status = 200;
    // No digest asked: the status decides.
    assert_true(judge_http({"/", 200, ""}, big).ok);
    // Digest asked: cannot be verified, so it fails.
    assert_false(judge_http({"/", 200, "d41d8cd98f00b204e9800998ecf8427e"}, big).ok);
    // Overflow without a status line at all: failure.
    big.status = 0;
    assert_false(judge_http({"/", std::nullopt, ""}, big).ok);
}

void test_misc_exit_codes(void**) {
    // Plain MISC_CHECK: 0 up, anything else down.
    assert_true(judge_misc(exited(0), false).ok);
    assert_false(judge_misc(exited(0), false).weight.has_value());
    assert_false(judge_misc(exited(1), false).ok);
    assert_false(judge_misc(exited(2), false).ok);
    assert_false(judge_misc(exited(255), false).ok);
    assert_false(judge_misc(signalled(9), false).ok);

    // misc_dynamic: 0 up (weight unchanged), 1 down, 2..255 up with weight code-2.
    ProbeResult r = judge_misc(exited(0), true);
    assert_true(r.ok);
    assert_false(r.weight.has_value());
    assert_false(judge_misc(exited(1), true).ok);
    for (int code = 2; code <= 255; ++code) {
        r = judge_misc(exited(code), true);
        assert_true(r.ok);
        assert_int_equal(*r.weight, code - 2);
    }
    assert_false(judge_misc(signalled(15), true).ok);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md5_matches_genhash),
        cmocka_unit_test(test_digest_size_bound),
        cmocka_unit_test(test_status_rules),
        cmocka_unit_test(test_digest_rules),
        cmocka_unit_test(test_transfer_failures),
        cmocka_unit_test(test_oversized_body),
        cmocka_unit_test(test_misc_exit_codes),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
