// Judging one probe's raw outcome: HTTP status and body digest against a
// `url { }` block, and a MISC_CHECK script's exit status. Pure apart from the
// MD5 computation (OpenSSL's EVP, the library libcurl links).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "check/health.h"
#include "daemon/config/model.h"

namespace vigil::check {

// A response body larger than this is not read further: the check only needs
// enough to compare a digest, and a misbehaving server must not make the
// checker buffer or hash without end.
constexpr size_t kMaxHttpBodyBytes = 1024 * 1024;

// MD5 of a body as it streams in, in lower-case hex (what keepalived's genhash
// prints), with a size bound.
class BodyDigest {
public:
    explicit BodyDigest(size_t max_bytes = kMaxHttpBodyBytes);
    ~BodyDigest();
    BodyDigest(const BodyDigest&) = delete;
    BodyDigest& operator=(const BodyDigest&) = delete;

    // False once the body has grown past the bound; nothing more is hashed.
    bool update(const void* data, size_t len);
    bool overflowed() const { return overflowed_; }
    size_t bytes() const { return bytes_; }
    // Finishes the hash; call once.
    std::string hex();

private:
    struct Ctx;
    std::unique_ptr<Ctx> ctx_;
    size_t max_bytes_;
    size_t bytes_ = 0;
    bool overflowed_ = false;
};

struct HttpOutcome {
    bool transfer_ok = false;  // the exchange completed (no timeout / reset / parse error)
    std::string error;         // why not, when !transfer_ok
    long status = 0;           // 0 when no status line was received
    bool body_overflowed = false;
    std::string body_md5;      // lower-case hex
};

struct Judgement {
    bool ok = false;
    std::string reason;  // for the log when !ok
};

// keepalived's rules for a url block: status_code given -> must match exactly;
// none -> any 2xx; digest given -> MD5 of the whole body must match (so a body
// cut short by the size bound fails a digest check). A body past the bound is
// acceptable when no digest is asked for: the status decides.
Judgement judge_http(const config::HttpUrl& url, const HttpOutcome& outcome);

// MISC_CHECK exit status (a waitpid status). Exit 0: up. Exit 1: down.
// Exit 2..255: with misc_dynamic up, and the real server's weight becomes
// code - 2 (keepalived.conf(5)); without misc_dynamic any non-zero is down.
// Killed by a signal (including our own timeout kill): down.
ProbeResult judge_misc(int wait_status, bool misc_dynamic);

}  // namespace vigil::check
