// libcurl, loaded on first use instead of at every exec.
//
// vigild needs libcurl only for HTTP_GET / SSL_GET checks and SMTP alerts,
// but linking it made every start load 35 more shared objects (its TLS, SSH,
// LDAP, Kerberos, IDN, compression and PSL libraries): 46 objects opened,
// mapped and relocated, and their constructors run, before main(). In the
// ip_vs test guest, where every file comes over 9p, that was a good part of
// the 0.3 s a bare `vigild --version` took (0.12 s for a 7-library binary).
//
// So vigild does not link libcurl: this file defines the libcurl functions
// vigil calls, each forwarding to libcurl.so.4 (the soname of every libcurl
// since 7.16; configure still checks the headers and the version), opened
// with dlopen the first time one of them is called. A config without HTTP
// checks or mail never loads it; one with them loads it in the process that
// uses it (the check child, the mail process). If it cannot be loaded, the
// init functions fail as libcurl's own do (NULL, CURLE_FAILED_INIT), which
// every caller already handles, and the reason is logged once.
//
// The MD5 of HTTP_GET/SSL_GET digests comes from the same place: the TLS
// library libcurl links (libcrypto), whose six EVP functions we use are
// looked up through libcurl's handle (dlsym searches the dependencies of the
// object it is given). Linked directly, libcrypto alone made every start
// apply some 21,000 relocations and made private copies of 0.4 MB of its
// pages in each of vigild's three processes.
//
// curl.h's type-checking macros would rename our definitions: off here.
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <dlfcn.h>
#include <openssl/evp.h>

#include <cstdarg>

#include "daemon/log.h"

namespace {

constexpr const char* kLibcurl = "libcurl.so.4";

struct Libcurl {
    decltype(&::curl_global_init) global_init = nullptr;
    decltype(&::curl_easy_init) easy_init = nullptr;
    decltype(&::curl_easy_setopt) easy_setopt = nullptr;
    decltype(&::curl_easy_perform) easy_perform = nullptr;
    decltype(&::curl_easy_cleanup) easy_cleanup = nullptr;
    decltype(&::curl_easy_getinfo) easy_getinfo = nullptr;
    decltype(&::curl_easy_strerror) easy_strerror = nullptr;
    decltype(&::curl_slist_append) slist_append = nullptr;
    decltype(&::curl_slist_free_all) slist_free_all = nullptr;
    decltype(&::curl_multi_init) multi_init = nullptr;
    decltype(&::curl_multi_setopt) multi_setopt = nullptr;
    decltype(&::curl_multi_add_handle) multi_add_handle = nullptr;
    decltype(&::curl_multi_remove_handle) multi_remove_handle = nullptr;
    decltype(&::curl_multi_socket_action) multi_socket_action = nullptr;
    decltype(&::curl_multi_info_read) multi_info_read = nullptr;
    decltype(&::curl_multi_cleanup) multi_cleanup = nullptr;
    decltype(&::EVP_MD_CTX_new) md_ctx_new = nullptr;
    decltype(&::EVP_MD_CTX_free) md_ctx_free = nullptr;
    decltype(&::EVP_DigestInit_ex) digest_init = nullptr;
    decltype(&::EVP_DigestUpdate) digest_update = nullptr;
    decltype(&::EVP_DigestFinal_ex) digest_final = nullptr;
    decltype(&::EVP_md5) md5 = nullptr;
    bool loaded = false;
    bool digest_loaded = false;
};

template <class F>
bool resolve(void* lib, const char* name, F& f) {
    f = reinterpret_cast<F>(dlsym(lib, name));
    if (!f) VLOG_ERR("%s: no symbol %s; HTTP checks and mail alerts fail", kLibcurl, name);
    return f != nullptr;
}

Libcurl load() {
    Libcurl c;
    // RTLD_LOCAL: its symbols stay out of the global scope, where ours
    // (these forwarders) are.
    void* lib = dlopen(kLibcurl, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        VLOG_ERR("cannot load %s (%s): HTTP checks and mail alerts fail", kLibcurl, dlerror());
        return c;
    }
    bool ok = true;
    ok &= resolve(lib, "curl_global_init", c.global_init);
    ok &= resolve(lib, "curl_easy_init", c.easy_init);
    ok &= resolve(lib, "curl_easy_setopt", c.easy_setopt);
    ok &= resolve(lib, "curl_easy_perform", c.easy_perform);
    ok &= resolve(lib, "curl_easy_cleanup", c.easy_cleanup);
    ok &= resolve(lib, "curl_easy_getinfo", c.easy_getinfo);
    ok &= resolve(lib, "curl_easy_strerror", c.easy_strerror);
    ok &= resolve(lib, "curl_slist_append", c.slist_append);
    ok &= resolve(lib, "curl_slist_free_all", c.slist_free_all);
    ok &= resolve(lib, "curl_multi_init", c.multi_init);
    ok &= resolve(lib, "curl_multi_setopt", c.multi_setopt);
    ok &= resolve(lib, "curl_multi_add_handle", c.multi_add_handle);
    ok &= resolve(lib, "curl_multi_remove_handle", c.multi_remove_handle);
    ok &= resolve(lib, "curl_multi_socket_action", c.multi_socket_action);
    ok &= resolve(lib, "curl_multi_info_read", c.multi_info_read);
    ok &= resolve(lib, "curl_multi_cleanup", c.multi_cleanup);
    c.loaded = ok;
    bool digest = true;
    digest &= resolve(lib, "EVP_MD_CTX_new", c.md_ctx_new);
    digest &= resolve(lib, "EVP_MD_CTX_free", c.md_ctx_free);
    digest &= resolve(lib, "EVP_DigestInit_ex", c.digest_init);
    digest &= resolve(lib, "EVP_DigestUpdate", c.digest_update);
    digest &= resolve(lib, "EVP_DigestFinal_ex", c.digest_final);
    digest &= resolve(lib, "EVP_md5", c.md5);
    c.digest_loaded = digest;
    return c;
}

// Loaded once per process, on the first call (vigild's processes are
// single-threaded; a fork after loading inherits it).
const Libcurl& curl() {
    static const Libcurl c = load();
    return c;
}

}  // namespace

// The variadic options take one argument whose type the option number
// encodes (curl.h: CURLOPTTYPE_*; the multi options use the same ranges):
// read it as that type and pass it on.
#define VIGIL_FORWARD_OPTION(call, option, ap)                                   \
    ((option) < CURLOPTTYPE_OBJECTPOINT     ? call(va_arg(ap, long))             \
     : (option) < CURLOPTTYPE_FUNCTIONPOINT ? call(va_arg(ap, void*))            \
     : (option) < CURLOPTTYPE_OFF_T         ? call(va_arg(ap, void (*)()))       \
     : (option) < CURLOPTTYPE_BLOB          ? call(va_arg(ap, curl_off_t))       \
                                            : call(va_arg(ap, void*)))

extern "C" {

CURLcode curl_global_init(long flags) {
    return curl().loaded ? curl().global_init(flags) : CURLE_FAILED_INIT;
}

CURL* curl_easy_init(void) { return curl().loaded ? curl().easy_init() : nullptr; }

CURLcode curl_easy_setopt(CURL* easy, CURLoption option, ...) {
    if (!curl().loaded) return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, option);
    auto call = [&](auto value) { return curl().easy_setopt(easy, option, value); };
    CURLcode rc = VIGIL_FORWARD_OPTION(call, option, ap);
    va_end(ap);
    return rc;
}

CURLcode curl_easy_perform(CURL* easy) { return curl().loaded ? curl().easy_perform(easy) : CURLE_FAILED_INIT; }

void curl_easy_cleanup(CURL* easy) {
    if (curl().loaded) curl().easy_cleanup(easy);
}

CURLcode curl_easy_getinfo(CURL* easy, CURLINFO info, ...) {
    if (!curl().loaded) return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, info);
    CURLcode rc = curl().easy_getinfo(easy, info, va_arg(ap, void*));  // always a pointer to the result
    va_end(ap);
    return rc;
}

const char* curl_easy_strerror(CURLcode code) {
    return curl().loaded ? curl().easy_strerror(code) : "libcurl could not be loaded";
}

curl_slist* curl_slist_append(curl_slist* list, const char* data) {
    return curl().loaded ? curl().slist_append(list, data) : nullptr;
}

void curl_slist_free_all(curl_slist* list) {
    if (curl().loaded) curl().slist_free_all(list);
}

CURLM* curl_multi_init(void) { return curl().loaded ? curl().multi_init() : nullptr; }

CURLMcode curl_multi_setopt(CURLM* multi, CURLMoption option, ...) {
    if (!curl().loaded) return CURLM_BAD_HANDLE;
    va_list ap;
    va_start(ap, option);
    auto call = [&](auto value) { return curl().multi_setopt(multi, option, value); };
    CURLMcode rc = VIGIL_FORWARD_OPTION(call, option, ap);
    va_end(ap);
    return rc;
}

CURLMcode curl_multi_add_handle(CURLM* multi, CURL* easy) {
    return curl().loaded ? curl().multi_add_handle(multi, easy) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_remove_handle(CURLM* multi, CURL* easy) {
    return curl().loaded ? curl().multi_remove_handle(multi, easy) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_socket_action(CURLM* multi, curl_socket_t s, int ev_bitmask, int* running) {
    return curl().loaded ? curl().multi_socket_action(multi, s, ev_bitmask, running) : CURLM_BAD_HANDLE;
}

CURLMsg* curl_multi_info_read(CURLM* multi, int* msgs_in_queue) {
    if (!curl().loaded) {
        if (msgs_in_queue) *msgs_in_queue = 0;
        return nullptr;
    }
    return curl().multi_info_read(multi, msgs_in_queue);
}

CURLMcode curl_multi_cleanup(CURLM* multi) {
    return curl().loaded ? curl().multi_cleanup(multi) : CURLM_BAD_HANDLE;
}

// libcrypto's, through libcurl's handle; failing as libcrypto's own do
// (NULL, 0) when it cannot be had, which BodyDigest handles (no digest).
EVP_MD_CTX* EVP_MD_CTX_new(void) { return curl().digest_loaded ? curl().md_ctx_new() : nullptr; }

void EVP_MD_CTX_free(EVP_MD_CTX* ctx) {
    if (curl().digest_loaded) curl().md_ctx_free(ctx);
}

int EVP_DigestInit_ex(EVP_MD_CTX* ctx, const EVP_MD* type, ENGINE* impl) {
    return curl().digest_loaded ? curl().digest_init(ctx, type, impl) : 0;
}

int EVP_DigestUpdate(EVP_MD_CTX* ctx, const void* data, size_t count) {
    return curl().digest_loaded ? curl().digest_update(ctx, data, count) : 0;
}

int EVP_DigestFinal_ex(EVP_MD_CTX* ctx, unsigned char* md, unsigned int* size) {
    return curl().digest_loaded ? curl().digest_final(ctx, md, size) : 0;
}

const EVP_MD* EVP_md5(void) { return curl().digest_loaded ? curl().md5() : nullptr; }

}  // extern "C"
