// The core process: owns the config and the children, handles signals
// (SIGTERM/SIGINT stop, SIGHUP reload) and tells systemd how things stand.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "daemon/config/model.h"
#include "daemon/ev.h"
#include "daemon/log.h"
#include "daemon/supervisor.h"

namespace vigil {

struct CoreOptions {
    std::string config_path;
    std::string runtime_dir;
    log::Options log;
    RestartPolicyOptions restart;
    std::chrono::milliseconds stop_grace{5000};   // per child, then SIGKILL
    std::chrono::milliseconds reload_timeout{30000};  // children's ReloadDone, then READY anyway
};

// The pid file in the runtime dir, locked with flock() for as long as core
// runs: a second vigild on the same runtime dir is refused, one on another
// runtime dir (another network namespace) runs side by side.
class PidFile {
public:
    // nullopt with *error set when the lock is taken or the file cannot be made.
    static std::optional<PidFile> acquire(const std::string& runtime_dir, std::string* error);
    PidFile(PidFile&& other) noexcept : path_(std::move(other.path_)), fd_(other.fd_) { other.fd_ = -1; }
    PidFile& operator=(PidFile&&) = delete;
    PidFile(const PidFile&) = delete;
    ~PidFile();
    // Writes our pid (call again after daemonising: the pid changed).
    bool write_pid();
    int fd() const { return fd_; }

private:
    PidFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
    std::string path_;
    int fd_ = -1;
};

class Core {
public:
    Core(ev::Loop* loop, CoreOptions opts, std::shared_ptr<const config::Config> config, int pidfile_fd);
    Core(const Core&) = delete;
    Core& operator=(const Core&) = delete;
    // Starts the children and runs until stopped; returns the exit status.
    int run();

    // Last state each VRRP instance reported (0 Init, 1 Backup, 2 Master, 3 Fault).
    struct InstanceStatus {
        uint8_t state = 0;
        uint8_t priority = 0;
    };

private:
    ChildContext make_context(const std::string& child);
    void on_message(const std::string& child, const ipc::Message& m);
    void on_child_exit(const std::string& child);
    void reload();
    void finish_reload_if_done();
    void shutdown(const char* why);
    void notify_ready();
    void resign_masters();

    ev::Loop* loop_;
    CoreOptions opts_;
    std::shared_ptr<const config::Config> config_;
    Supervisor supervisor_;
    ev::Signal sigterm_, sigint_, sighup_;
    ev::Timer watchdog_;
    ev::Timer reload_timer_;
    std::set<std::string> not_ready_;       // children yet to send ChildReady at start
    std::set<std::string> reload_waiting_;  // children yet to answer the current reload
    bool reloading_ = false;                // RELOADING=1 sent, READY=1 not yet
    bool started_ = false;                  // READY=1 sent once
    bool stopping_ = false;
    int exit_status_ = 0;
    std::map<std::string, InstanceStatus> instances_;
};

}  // namespace vigil
