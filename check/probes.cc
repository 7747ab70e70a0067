// The real probes behind ProbeFactory: TCP connect, HTTP(S) via libcurl's
// multi-socket interface driven by libev, MISC_CHECK scripts.
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

#include "check/evaluate.h"
#include "check/probe.h"
#include "daemon/log.h"

namespace vigil::check {
namespace {

socklen_t to_sockaddr(const IpAddress& a, uint16_t port, sockaddr_storage* ss) {
    std::memset(ss, 0, sizeof(*ss));
    if (a.is_v6()) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_addr = a.to_in6_addr();
        s6->sin6_port = htons(port);
        return sizeof(*s6);
    }
    auto* s4 = reinterpret_cast<sockaddr_in*>(ss);
    s4->sin_family = AF_INET;
    s4->sin_addr = a.to_in_addr();
    s4->sin_port = htons(port);
    return sizeof(*s4);
}

// ---------------------------------------------------------------------------
// TCP_CHECK: a non-blocking connect; up when the handshake completes within
// connect_timeout. The socket is then closed with a reset (SO_LINGER 0): at a
// thousand checks a second an orderly close would leave tens of thousands of
// TIME_WAIT sockets on the director and run out of ephemeral ports.
class TcpProbe final : public Probe {
public:
    TcpProbe(ev::Loop* loop, const ProbeTarget& t, ProbeDone done)
        : done_(std::move(done)), io_(loop, [this](int) { on_writable(); }), timer_(loop, [this] { on_timer(); }) {
        sockaddr_storage ss;
        socklen_t len = to_sockaddr(t.addr, t.port, &ss);
        fd_ = socket(t.addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd_ < 0) {
            fail_soon(std::string("socket: ") + strerror(errno));
            return;
        }
        if (t.bindto) {
            sockaddr_storage bs;
            socklen_t blen = to_sockaddr(*t.bindto, 0, &bs);
            if (bind(fd_, reinterpret_cast<sockaddr*>(&bs), blen) != 0) {
                fail_soon("bind to " + t.bindto->str() + ": " + strerror(errno));
                return;
            }
        }
        if (connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
            fail_soon(strerror(errno));
            return;
        }
        // Connected or in progress: writable tells either way.
        io_.start(fd_, EV_WRITE);
        timer_.start(t.timeout);
    }
    ~TcpProbe() override { close_socket(); }

private:
    void fail_soon(std::string why) {
        pending_error_ = std::move(why);
        timer_.start(std::chrono::nanoseconds{0});
    }
    void close_socket() {
        io_.stop();
        if (fd_ >= 0) {
            linger l{1, 0};
            setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
            close(fd_);
            fd_ = -1;
        }
    }
    void finish(bool ok, const std::string& why) {
        close_socket();
        timer_.stop();
        ProbeDone done = std::move(done_);
        done(ok ? ProbeResult::success() : ProbeResult::failure(), why);  // may destroy *this
    }
    void on_writable() {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        finish(err == 0, err == 0 ? std::string() : std::string(strerror(err)));
    }
    void on_timer() { finish(false, pending_error_.empty() ? "connect timeout" : pending_error_); }

    ProbeDone done_;
    int fd_ = -1;
    std::string pending_error_;
    ev::Io io_;
    ev::Timer timer_;
};

// ---------------------------------------------------------------------------
// libcurl multi-socket interface on libev: curl tells us which sockets to watch
// (CURLMOPT_SOCKETFUNCTION) and when to call it back (CURLMOPT_TIMERFUNCTION);
// we call curl_multi_socket_action from the watchers.
class HttpProbe;

class CurlMulti {
public:
    explicit CurlMulti(ev::Loop* loop) : loop_(loop), timer_(loop, [this] { on_timeout(); }) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        multi_ = curl_multi_init();
        curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlMulti::socket_cb);
        curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
        curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlMulti::timer_cb);
        curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    }
    ~CurlMulti() {
        sockets_.clear();
        retired_.clear();
        curl_multi_cleanup(multi_);
    }
    void add(CURL* easy) {
        curl_multi_add_handle(multi_, easy);
    }
    void remove(CURL* easy) { curl_multi_remove_handle(multi_, easy); }
    ev::Loop* loop() const { return loop_; }

private:
    static int socket_cb(CURL*, curl_socket_t s, int what, void* userp, void*) {
        auto* self = static_cast<CurlMulti*>(userp);
        if (what == CURL_POLL_REMOVE) {
            // Possibly called from this very socket's watcher callback (a
            // transfer finishing): stop it now, free it on the next event.
            auto it = self->sockets_.find(s);
            if (it != self->sockets_.end()) {
                it->second->stop();
                self->retired_.push_back(std::move(it->second));
                self->sockets_.erase(it);
            }
            self->socket_events_.erase(s);
            return 0;
        }
        auto& io = self->sockets_[s];
        if (!io) io = std::make_unique<ev::Io>(self->loop_, [self, s](int revents) { self->on_socket(s, revents); });
        int events = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
        if (!io->active() || io->fd() != s || self->socket_events_[s] != events) {
            io->start(s, events);
            self->socket_events_[s] = events;
        }
        return 0;
    }
    static int timer_cb(CURLM*, long timeout_ms, void* userp) {
        auto* self = static_cast<CurlMulti*>(userp);
        if (timeout_ms < 0)
            self->timer_.stop();
        else
            self->timer_.start(std::chrono::milliseconds(timeout_ms));
        return 0;
    }
    void on_socket(curl_socket_t s, int revents) {
        retired_.clear();
        int flags = (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
        int running = 0;
        curl_multi_socket_action(multi_, s, flags, &running);
        drain();
    }
    void on_timeout() {
        retired_.clear();
        int running = 0;
        curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
        drain();
    }
    void drain();

    ev::Loop* loop_;
    CURLM* multi_ = nullptr;
    ev::Timer timer_;
    std::map<curl_socket_t, std::unique_ptr<ev::Io>> sockets_;
    std::map<curl_socket_t, int> socket_events_;
    std::vector<std::unique_ptr<ev::Io>> retired_;
};

// HTTP_GET / SSL_GET: each url block in turn on a fresh connection; all must
// pass. One easy handle per probe; no connection is reused across checks.
class HttpProbe final : public Probe {
public:
    HttpProbe(CurlMulti& multi, const ProbeTarget& t, ProbeDone done)
        : multi_(multi), target_(t), done_(std::move(done)), later_(multi.loop(), [this] { next_url(); }) {
        // Start from the loop, never inside start().
        later_.start(std::chrono::nanoseconds{0});
    }
    ~HttpProbe() override { release(); }

    void on_complete(CURLcode code) {
        HttpOutcome o;
        o.transfer_ok = code == CURLE_OK;
        o.body_overflowed = digest_ && digest_->overflowed();
        if (!o.transfer_ok) o.error = curl_easy_strerror(code);
        if (code == CURLE_OPERATION_TIMEDOUT) o.error = "timeout";
        curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &o.status);
        o.body_md5 = digest_ ? digest_->hex() : std::string();
        const auto& url = target_.urls[index_];
        Judgement j = judge_http(url, o);
        release();
        if (!j.ok) return finish(false, url.path + ": " + j.reason);
        ++index_;
        if (index_ >= target_.urls.size()) return finish(true, {});
        later_.start(std::chrono::nanoseconds{0});
    }

private:
    static size_t write_cb(char* data, size_t size, size_t nmemb, void* userp) {
        auto* self = static_cast<HttpProbe*>(userp);
        size_t n = size * nmemb;
        // Returning less than n aborts the transfer (CURLE_WRITE_ERROR).
        return self->digest_->update(data, n) ? n : 0;
    }

    void next_url() {
        if (target_.urls.empty()) return finish(false, "no url block");
        const auto& url = target_.urls[index_];
        bool tls = target_.type == config::CheckerType::Ssl;
        std::string host = target_.addr.is_v6() ? "[" + target_.addr.str() + "]" : target_.addr.str();
        std::string name = target_.virtualhost.empty() ? host : target_.virtualhost;
        std::string path = url.path.empty() || url.path[0] != '/' ? "/" + url.path : url.path;
        std::string full = (tls ? "https://" : "http://") + name + ":" + std::to_string(target_.port) + path;
        easy_ = curl_easy_init();
        if (!easy_) return finish(false, "curl_easy_init failed");
        digest_ = std::make_unique<BodyDigest>();
        curl_easy_setopt(easy_, CURLOPT_URL, full.c_str());
        curl_easy_setopt(easy_, CURLOPT_PRIVATE, this);
        curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &HttpProbe::write_cb);
        curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
        curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy_, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(easy_, CURLOPT_FRESH_CONNECT, 1L);
        // connect_timeout bounds the whole exchange, as keepalived does.
        curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, static_cast<long>(target_.timeout.count()));
        curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(target_.timeout.count()));
#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, tls ? "https" : "http");
#else
        curl_easy_setopt(easy_, CURLOPT_PROTOCOLS, tls ? CURLPROTO_HTTPS : CURLPROTO_HTTP);
#endif
        // keepalived does not verify the real server's certificate: the check is
        // about the service answering, not about who signed it.
        curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(easy_, CURLOPT_USERAGENT, "vigil-check");
        if (!target_.virtualhost.empty()) {
            // Host header and TLS SNI carry the virtualhost; the connection goes to
            // the real server's address (no DNS lookup).
            std::string entry = target_.virtualhost + ":" + std::to_string(target_.port) + ":" + host;
            resolve_ = curl_slist_append(nullptr, entry.c_str());
            curl_easy_setopt(easy_, CURLOPT_RESOLVE, resolve_);
        }
        if (target_.bindto) {
            bind_ = "host!" + target_.bindto->str();
            curl_easy_setopt(easy_, CURLOPT_INTERFACE, bind_.c_str());
        }
        multi_.add(easy_);
    }
    void release() {
        later_.stop();
        if (easy_) {
            multi_.remove(easy_);
            curl_easy_cleanup(easy_);
            easy_ = nullptr;
        }
        if (resolve_) {
            curl_slist_free_all(resolve_);
            resolve_ = nullptr;
        }
        digest_.reset();
    }
    void finish(bool ok, const std::string& why) {
        release();
        ProbeDone done = std::move(done_);
        done(ok ? ProbeResult::success() : ProbeResult::failure(), why);  // may destroy *this
    }

    CurlMulti& multi_;
    ProbeTarget target_;
    ProbeDone done_;
    size_t index_ = 0;
    CURL* easy_ = nullptr;
    curl_slist* resolve_ = nullptr;
    std::string bind_;
    std::unique_ptr<BodyDigest> digest_;
    ev::Timer later_;
};

void CurlMulti::drain() {
    // One message at a time, copied out before the probe runs: completing a
    // probe removes its handle (and so its message), and the callback it runs
    // may end other probes, whose messages curl then drops from the queue too,
    // so a list collected up front could name probes that no longer exist.
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
        if (m->msg != CURLMSG_DONE) continue;
        CURL* easy = m->easy_handle;
        CURLcode code = m->data.result;
        HttpProbe* probe = nullptr;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, reinterpret_cast<char**>(&probe));
        if (probe) probe->on_complete(code);
    }
}

// ---------------------------------------------------------------------------
// MISC_CHECK: the script's exit status decides (judge_misc); misc_timeout kills it.
class MiscProbe final : public Probe {
public:
    MiscProbe(ScriptLauncher& scripts, ev::Loop* loop, const ProbeTarget& t, ProbeDone done)
        : done_(std::move(done)), later_(loop, [this] { finish(ProbeResult::failure(), "could not start script"); }) {
        bool dynamic = t.misc_dynamic;
        script_ = scripts.start(t.script, "MISC_CHECK", [this, dynamic](const ScriptExit& e) {
            if (!e.started) return finish(ProbeResult::failure(), "could not start script");
            if (e.timed_out) return finish(ProbeResult::failure(), "script timeout");
            ProbeResult r = judge_misc(e.wait_status, dynamic);
            std::string why;
            if (!r.ok)
                why = WIFEXITED(e.wait_status) ? "exit status " + std::to_string(WEXITSTATUS(e.wait_status))
                                               : "killed by signal " + std::to_string(WTERMSIG(e.wait_status));
            finish(r, why);
        });
        // Refused (unknown user, enable_script_security): reported from the loop too.
        if (!script_) later_.start(std::chrono::nanoseconds{0});
    }

private:
    void finish(const ProbeResult& r, const std::string& why) {
        ProbeDone done = std::move(done_);
        done(r, why);  // may destroy *this
    }
    ProbeDone done_;
    ev::Timer later_;
    std::unique_ptr<ScriptProcess> script_;
};

class RealProbes final : public ProbeFactory {
public:
    RealProbes(ev::Loop* loop, ScriptLauncher& scripts) : loop_(loop), scripts_(scripts) {}
    std::unique_ptr<Probe> start(const ProbeTarget& t, ProbeDone done) override {
        switch (t.type) {
        case config::CheckerType::Tcp: return std::make_unique<TcpProbe>(loop_, t, std::move(done));
        case config::CheckerType::Http:
        case config::CheckerType::Ssl: return std::make_unique<HttpProbe>(curl(), t, std::move(done));
        case config::CheckerType::Misc: return std::make_unique<MiscProbe>(scripts_, loop_, t, std::move(done));
        }
        return nullptr;
    }

private:
    // libcurl, and the TLS library it initialises, from the first HTTP_GET /
    // SSL_GET probe on: a check child with only TCP and MISC checkers never
    // loads their state (about 3 MB of the process's memory).
    CurlMulti& curl() {
        if (!curl_) curl_ = std::make_unique<CurlMulti>(loop_);
        return *curl_;
    }

    ev::Loop* loop_;
    ScriptLauncher& scripts_;
    std::unique_ptr<CurlMulti> curl_;
};

}  // namespace

std::unique_ptr<ProbeFactory> make_real_probes(ev::Loop* loop, ScriptLauncher& scripts) {
    return std::make_unique<RealProbes>(loop, scripts);
}

}  // namespace vigil::check
