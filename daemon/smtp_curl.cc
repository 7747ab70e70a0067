// MailTransport over libcurl's SMTP client (RFC 5321: EHLO, MAIL FROM, RCPT
// TO per recipient, DATA with dot-stuffing, QUIT), run in a forked process.
//
// Why not libcurl's multi interface on our own loop, as the check child does
// for HTTP: libcurl's SMTP waits *blocking* for the reply to the end of DATA
// (its "done" phase) and for the reply to QUIT, even under the multi
// interface (curl issue #8555, "More non-blocking" in libcurl's TODO). A slow
// relay would then freeze the vrrp loop for up to the transfer timeout and
// the director would miss its own advertisements. A short-lived process per
// mail does the blocking exchange; the loop only watches a pipe and a pid.
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "daemon/privileges.h"
#include "daemon/smtp_alert.h"

namespace vigil::smtp {
namespace {

// In the forked process: one blocking libcurl SMTP exchange. Returns "" on
// success, else why it failed.
std::string curl_send(const MailSettings& s, const Mail& m) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return "curl_global_init failed";
    CURL* easy = curl_easy_init();
    if (!easy) return "curl_easy_init failed";
    struct Reader {
        const std::string* text;
        size_t offset = 0;
        static size_t read(char* buf, size_t size, size_t nmemb, void* userp) {
            auto* r = static_cast<Reader*>(userp);
            size_t n = std::min(size * nmemb, r->text->size() - r->offset);
            std::memcpy(buf, r->text->data() + r->offset, n);
            r->offset += n;
            return n;
        }
    } reader{&m.text};
    // The URL's path is the name libcurl gives in EHLO/HELO.
    std::string url = "smtp://" + relay_str(s) + "/" + s.helo_name;
    std::string from = "<" + m.envelope_from + ">";
    curl_slist* rcpt = nullptr;
    for (const auto& r : m.recipients) rcpt = curl_slist_append(rcpt, ("<" + r + ">").c_str());
    char error[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "smtp");
#else
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS, CURLPROTO_SMTP);
#endif
    curl_easy_setopt(easy, CURLOPT_MAIL_FROM, from.c_str());
    curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, rcpt);
    // One refused recipient must not keep the mail from the others.
#if LIBCURL_VERSION_NUM >= 0x080200
    curl_easy_setopt(easy, CURLOPT_MAIL_RCPT_ALLOWFAILS, 1L);
#elif LIBCURL_VERSION_NUM >= 0x074500
    curl_easy_setopt(easy, CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L);
#endif
    curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(easy, CURLOPT_READFUNCTION, &Reader::read);
    curl_easy_setopt(easy, CURLOPT_READDATA, &reader);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    long timeout_ms = static_cast<long>(std::chrono::milliseconds(s.connect_timeout).count());
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 2 * timeout_ms);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error);
    CURLcode code = curl_easy_perform(easy);
    std::string result;
    if (code != CURLE_OK) {
        result = error[0] ? error : curl_easy_strerror(code);
        long reply = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &reply);
        if (reply > 0) result += " (last reply " + std::to_string(reply) + ")";
    }
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(easy);
    return result;
}

class ForkedCurlTransport final : public MailTransport {
public:
    explicit ForkedCurlTransport(ev::Loop* loop)
        : child_(loop, [this](int, int status) { on_exit(status); }),
          pipe_io_(loop, [this](int) { on_pipe(); }),
          deadline_(loop, [this] { on_deadline(); }),
          later_(loop, [this] { report(); }) {}
    ~ForkedCurlTransport() override { abandon(); }

    void send(const MailSettings& s, const Mail& m, Done done) override {
        abandon();
        done_ = std::move(done);
        error_.clear();
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) return fail_soon(std::string("pipe: ") + std::strerror(errno));
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) {
            close(fds[0]);
            close(fds[1]);
            return fail_soon(std::string("fork: ") + std::strerror(errno));
        }
        if (pid == 0) {
            // The vrrp child is single-threaded, so libcurl may run here.
            // Nothing of the parent's loop may fire: its signal handlers would
            // write to the parent's wakeup fd, its sockets are not ours.
            for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2}) signal(sig, SIG_DFL);
            signal(SIGPIPE, SIG_IGN);
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, nullptr);
            // A mail in flight does not outlive the process that wanted it.
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(2);
            close(fds[0]);
            if (fds[1] > 3) close_range(3, static_cast<unsigned>(fds[1]) - 1, 0);
            close_range(static_cast<unsigned>(fds[1]) + 1, ~0U, 0);
            // Talking SMTP needs no privilege: libcurl parses what a remote
            // server says, so it does so without the vrrp child's
            // CAP_NET_RAW/CAP_NET_ADMIN. Best effort: the mail goes anyway.
            std::string cap_error;
            privileges::keep_only({}, &cap_error);
            std::string error = curl_send(s, m);
            size_t off = 0;
            while (off < error.size()) {
                ssize_t n = write(fds[1], error.data() + off, error.size() - off);
                if (n <= 0) break;
                off += static_cast<size_t>(n);
            }
            _exit(error.empty() ? 0 : 1);
        }
        close(fds[1]);
        pipe_fd_ = fds[0];
        fcntl(pipe_fd_, F_SETFL, O_NONBLOCK);
        pid_ = pid;
        child_.start(pid);
        pipe_io_.start(pipe_fd_, EV_READ);
        // libcurl bounds the exchange at twice the connect timeout; this is
        // the backstop should the process itself hang.
        deadline_.start(2 * s.connect_timeout + std::chrono::seconds(5));
        deadline_text_ = "no result within " + std::to_string((2 * s.connect_timeout).count() + 5) + " s";
    }

private:
    void fail_soon(std::string why) {
        error_ = std::move(why);
        later_.start(std::chrono::nanoseconds{0});
    }
    void on_pipe() {
        char buf[512];
        for (;;) {
            ssize_t n = read(pipe_fd_, buf, sizeof buf);
            if (n > 0) {
                if (error_.size() < 4096) error_.append(buf, static_cast<size_t>(n));
                continue;
            }
            if (n == 0 || errno != EINTR) break;
        }
    }
    void on_exit(int status) {
        pid_ = -1;
        on_pipe();  // what is left: the process has written everything
        close_pipe();
        deadline_.stop();
        bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!ok && error_.empty())
            error_ = WIFSIGNALED(status) ? "mail process killed by signal " + std::to_string(WTERMSIG(status))
                                         : "mail process exited with status " + std::to_string(WEXITSTATUS(status));
        if (ok) error_.clear();
        report();
    }
    void on_deadline() {
        std::string why = deadline_text_;
        abandon_process();
        error_ = why;
        report();
    }
    void report() {
        Done done = std::move(done_);
        done_ = nullptr;
        if (done) done(error_);  // may start the next send
    }
    void close_pipe() {
        pipe_io_.stop();
        if (pipe_fd_ >= 0) close(pipe_fd_);
        pipe_fd_ = -1;
    }
    void abandon_process() {
        deadline_.stop();
        close_pipe();
        if (pid_ > 0) {
            child_.stop();
            kill(pid_, SIGKILL);
            // SIGKILL cannot be ignored: the wait is short, and it leaves no zombie.
            while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
            }
            pid_ = -1;
        }
    }
    void abandon() {
        later_.stop();
        abandon_process();
        done_ = nullptr;
    }

    ev::Child child_;
    ev::Io pipe_io_;
    ev::Timer deadline_;
    ev::Timer later_;
    pid_t pid_ = -1;
    int pipe_fd_ = -1;
    std::string error_, deadline_text_;
    Done done_;
};

}  // namespace

std::unique_ptr<MailTransport> make_curl_transport(ev::Loop* loop) {
    return std::make_unique<ForkedCurlTransport>(loop);
}

}  // namespace vigil::smtp
