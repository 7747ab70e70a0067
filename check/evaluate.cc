#include "check/evaluate.h"

#include <openssl/evp.h>
#include <sys/wait.h>

namespace vigil::check {

struct BodyDigest::Ctx {
    EVP_MD_CTX* md = nullptr;
    ~Ctx() { EVP_MD_CTX_free(md); }
};

BodyDigest::BodyDigest(size_t max_bytes) : ctx_(std::make_unique<Ctx>()), max_bytes_(max_bytes) {
    ctx_->md = EVP_MD_CTX_new();
    if (ctx_->md) EVP_DigestInit_ex(ctx_->md, EVP_md5(), nullptr);
}

BodyDigest::~BodyDigest() = default;

bool BodyDigest::update(const void* data, size_t len) {
    if (overflowed_) return false;
    if (len > max_bytes_ - bytes_) {
        overflowed_ = true;
        return false;
    }
    bytes_ += len;
    if (ctx_->md) EVP_DigestUpdate(ctx_->md, data, len);
    return true;
}

std::string BodyDigest::hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!ctx_->md || EVP_DigestFinal_ex(ctx_->md, out, &n) != 1) return {};
    static const char digits[] = "0123456789abcdef";
    std::string s;
    s.reserve(2 * n);
    for (unsigned int i = 0; i < n; ++i) {
        s += digits[out[i] >> 4];
        s += digits[out[i] & 15];
    }
    return s;
}

static bool hex_equal_nocase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'F') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'F') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

Judgement judge_http(const config::HttpUrl& url, const HttpOutcome& o) {
    // An aborted body (size bound) is not a transfer failure when no digest is
    // wanted: the status line is what is being checked.
    bool body_cut = o.body_overflowed;
    if (body_cut && !url.digest.empty())
        return {false, "body larger than " + std::to_string(kMaxHttpBodyBytes) + " bytes, digest not computed"};
    if (!o.transfer_ok && !(body_cut && o.status != 0 && url.digest.empty()))
        return {false, o.error.empty() ? "transfer failed" : o.error};
    if (o.status == 0) return {false, "no HTTP status line"};
    if (url.status_code) {
        if (o.status != *url.status_code)
            return {false, "status " + std::to_string(o.status) + ", expected " + std::to_string(*url.status_code)};
    } else if (o.status < 200 || o.status > 299) {
        return {false, "status " + std::to_string(o.status) + ", expected 2xx"};
    }
    if (!url.digest.empty()) {
        if (!hex_equal_nocase(o.body_md5, url.digest))
            return {false, "digest " + o.body_md5 + ", expected " + url.digest};
    }
    return {true, {}};
}

ProbeResult judge_misc(int wait_status, bool misc_dynamic) {
    if (!WIFEXITED(wait_status)) return ProbeResult::failure();
    int code = WEXITSTATUS(wait_status);
    if (code == 0) return ProbeResult::success();
    // Without misc_dynamic every non-zero exit is a failure.
    if (code == 1 || !misc_dynamic) return ProbeResult::failure();
    return {true, code - 2};
}

}  // namespace vigil::check
